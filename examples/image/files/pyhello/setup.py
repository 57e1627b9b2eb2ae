from setuptools import setup

setup(name="pyhello", version="1.0", packages=["pyhello"])
