import ArgumentParser
import Mount

/// `--read-ahead cautious|eager|off`, parsed and listed in `--help` by ArgumentParser.
extension ReadAheadPolicy: ExpressibleByArgument {}
