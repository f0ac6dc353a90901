package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// subFlags is the flag set of a subcommand. With a usage line the flag package stays silent
// (its own messages are English) and parse answers in Dutch: the usage on stdout for -h, a
// Dutch error and the usage on stderr otherwise. Without one the flag package reports to
// stderr itself, as backup, restore and status have always done.
type subFlags struct {
	*flag.FlagSet
	usage          string
	stdout, stderr io.Writer
}

func newSubFlags(name, usage string, stdout, stderr io.Writer) subFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if usage != "" {
		fs.SetOutput(io.Discard)
	} else {
		fs.SetOutput(stderr)
	}
	return subFlags{FlagSet: fs, usage: usage, stdout: stdout, stderr: stderr}
}

// data is the --data option every offline subcommand has.
func (f subFlags) data() *string {
	return f.String("data", envOr("KNOOPPUNT_DATA", defaultData), "gegevensmap (KNOOPPUNT_DATA)")
}

// parse reads args; when it returns false the subcommand ends with exit: 0 after -h, 2 after
// a wrong option, both already told.
func (f subFlags) parse(args []string) (exit int, ok bool) {
	err := f.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		if f.usage != "" {
			fmt.Fprintln(f.stdout, f.usage)
		}
		return 0, false
	}
	if f.usage != "" {
		fmt.Fprintf(f.stderr, "fout: %v\n%s\n", dutchFlagError(err), f.usage)
	}
	return 2, false
}
