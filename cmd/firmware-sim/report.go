package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	sim "github.com/edgepm/edgepm/firmware-sim"
)

type flagSet = flag.FlagSet

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// reportProgress prints a line every --progress until the returned stop
// function is called.
func (f *publishFlags) reportProgress(pub *sim.Publisher, w io.Writer) (stop func()) {
	if f.quiet || f.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(f.progress)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := pub.Stats()
				fmt.Fprintf(w, "firmware-sim: sent %d (%.0f msg/s now), errors %d\n",
					st.Sent, float64(st.Sent-last)/f.progress.Seconds(), st.Errors)
				last = st.Sent
			}
		}
	}()
	return func() { close(done); <-finished }
}

type errorCounter interface{ Errors() (int64, error) }

func summary(w io.Writer, st sim.PublisherStats, sink sim.Sink, inj *sim.Injector) {
	rate := 0.0
	if st.Elapsed > 0 {
		rate = float64(st.Sent) / st.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "firmware-sim: sent %d messages (%d readings) in %s: %.0f msg/s, send errors %d",
		st.Sent, st.Readings, st.Elapsed.Round(time.Millisecond), rate, st.Errors)
	if ec, ok := sink.(errorCounter); ok {
		n, err := ec.Errors()
		fmt.Fprintf(w, ", publish errors %d", n)
		if err != nil {
			fmt.Fprintf(w, " (first: %v)", err)
		}
	}
	fmt.Fprintln(w)
	if counts := inj.Counts(); len(counts) > 0 {
		kinds := make([]sim.FaultKind, 0, len(counts))
		for k := range counts {
			if k != sim.FaultNone {
				kinds = append(kinds, k)
			}
		}
		sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
		fmt.Fprint(w, "firmware-sim: faults injected:")
		for _, k := range kinds {
			fmt.Fprintf(w, " %s=%d", k, counts[k])
		}
		fmt.Fprintln(w)
	}
}
