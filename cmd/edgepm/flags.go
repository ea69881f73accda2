package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses a subcommand's flags the way the Go toolchain and
// kubectl users expect: --help (-h) prints the usage on stdout and exits 0,
// a usage error prints the error and the usage on stderr and exits 2. It
// returns ok when the command should go on, else the exit code.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return 0, false
	}
	fmt.Fprintf(stderr, "edgepm %s: %v\n", fs.Name(), err)
	fs.Usage()
	return 2, false
}

// isHelp reports whether arg asks for help (a subcommand group such as
// "edgepm model --help").
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "help" }
