package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// cmdModelTransition is `model promote NAME` and `model abort NAME`.
func cmdModelTransition(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addSignFlags(fs)
	reason := fs.String("reason", "", "why, for the rollout's history")
	name, args := leadingArg(args)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprintf(stderr, "edgepm model %s: NAME is required\n%s", verb, modelUsage)
		return 2
	}
	if *sf.key == "" {
		fmt.Fprint(stderr, errNoKey("model "+verb))
		return 2
	}
	op, _, err := sf.operator()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *sf.timeout)
	defer cancel()
	do, why := op.Promote, "promoted by the operator"
	if verb == "abort" {
		do, why = op.Abort, "aborted by the operator"
	}
	if *reason != "" {
		why = *reason
	}
	rec, err := do(ctx, name, why)
	if err != nil {
		return failModel(stderr, err)
	}
	printRollout(stdout, rec)
	return 0
}

// cmdModelShadow is `model shadow NAME VERSION [--on SPEC]`: the served
// version stays, VERSION is scored beside it.
func cmdModelShadow(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("model shadow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addSignFlags(fs)
	rf := addRuleFlags(fs)
	on := fs.String("on", "", "gateways that score the challenger: N, P% or ids and globs (default: every gateway)")
	name, args := leadingArg(args)
	version, args := leadingArg(args)
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if name == "" || version == "" {
		fmt.Fprint(stderr, "edgepm model shadow: NAME and VERSION are required\n"+modelUsage)
		return 2
	}
	if *sf.key == "" {
		fmt.Fprint(stderr, errNoKey("model shadow"))
		return 2
	}
	rule, err := rf.rule()
	if err != nil {
		fmt.Fprintf(stderr, "edgepm model shadow: %v\n", err)
		return 2
	}
	op, cfg, err := sf.operator()
	if err != nil {
		return failModel(stderr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *sf.timeout)
	defer cancel()
	rec, err := op.StartShadow(ctx, cfg, name, version, *on, rule)
	if err != nil {
		return failModel(stderr, err)
	}
	printRollout(stdout, rec)
	return 0
}

// signedRollback is `model rollback --key`: a signed release of a higher
// counter, recorded in the name's rollout record.
func signedRollback(ctx context.Context, sf signFlags, name, to, reason string, stdout, stderr io.Writer) int {
	op, _, err := sf.operator()
	if err != nil {
		return failModel(stderr, err)
	}
	written, from, err := op.Rollback(ctx, name, to, reason)
	if err != nil {
		return failModel(stderr, err)
	}
	fmt.Fprintf(stdout, "%s now points at %s (was %s; signed release %d)\n", name, written.Version, dashIfEmpty(from), written.Counter)
	return 0
}
