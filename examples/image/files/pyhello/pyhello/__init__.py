def greet():
    return "hello from python"
