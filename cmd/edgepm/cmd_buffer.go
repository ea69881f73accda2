package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/edgepm/edgepm/buffer"
)

const bufferUsage = `usage:
  edgepm buffer inspect --data-dir DIR [--json]
  edgepm buffer export  --data-dir DIR --stream S [--after N] [--limit N]

Both read DIR/buffer.db of a stopped appliance (read-only). export writes
one JSON object per record.
`

// cmdBuffer implements "edgepm buffer inspect|export".
func cmdBuffer(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, bufferUsage)
		return 2
	}
	switch args[0] {
	case "inspect":
		return bufferInspect(args[1:], stdout, stderr)
	case "export":
		return bufferExport(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, bufferUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "edgepm buffer: unknown command %q\n%s", args[0], bufferUsage)
		return 2
	}
}

func bufferFlags(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("edgepm buffer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", "", "the appliance's data directory (holds buffer.db)")
	return fs, dir
}

func bufferInspect(args []string, stdout, stderr io.Writer) int {
	fs, dir := bufferFlags("inspect", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "edgepm buffer inspect: --data-dir is required\n"+bufferUsage)
		return 2
	}
	rep, err := buffer.Inspect(filepath.Join(*dir, "buffer.db"))
	if err != nil {
		return bufferFail(stderr, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return bufferFail(stderr, err)
		}
		return 0
	}
	printReport(stdout, rep, time.Now())
	return 0
}

func printReport(w io.Writer, rep *buffer.Report, now time.Time) {
	fmt.Fprintf(w, "buffer %s: file %s, format %d, created %s\n\n", rep.Path, humanBytes(rep.FileSize), rep.Format, rep.Created)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STREAM\tRECORDS\tBYTES\tOLDEST AGE\tFIRST SEQ\tLAST SEQ\tDROPPED\t")
	for _, s := range rep.Streams {
		age := "-"
		if !s.OldestTime.IsZero() {
			age = now.Sub(s.OldestTime).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t\n", s.Name, s.Records, humanBytes(s.Bytes), age, s.FirstSeq, s.LastSeq, s.Dropped)
	}
	_ = tw.Flush()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// exportLine is one record of "edgepm buffer export". value is the payload
// itself when it is JSON, else value_base64 holds it.
type exportLine struct {
	Stream      string            `json:"stream"`
	Seq         uint64            `json:"seq"`
	Time        time.Time         `json:"time"`
	Key         string            `json:"key,omitempty"`
	KeyBase64   []byte            `json:"key_base64,omitempty"`
	Value       json.RawMessage   `json:"value,omitempty"`
	ValueBase64 []byte            `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

func bufferExport(args []string, stdout, stderr io.Writer) int {
	fs, dir := bufferFlags("export", stderr)
	stream := fs.String("stream", "", "stream to export (readings, predictions, alerts, events, deadletter)")
	after := fs.Uint64("after", 0, "export records with seq > N")
	limit := fs.Int("limit", 0, "export at most N records (0 = all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || *stream == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "edgepm buffer export: --data-dir and --stream are required\n"+bufferUsage)
		return 2
	}
	enc := json.NewEncoder(stdout)
	err := buffer.Export(filepath.Join(*dir, "buffer.db"), *stream, *after, *limit, func(r buffer.Record) error {
		return enc.Encode(toExportLine(r))
	})
	if err != nil {
		return bufferFail(stderr, err)
	}
	return 0
}

func toExportLine(r buffer.Record) exportLine {
	l := exportLine{Stream: r.Stream, Seq: r.Seq, Time: r.Time}
	if utf8.Valid(r.Key) {
		l.Key = string(r.Key)
	} else {
		l.KeyBase64 = r.Key
	}
	if json.Valid(r.Value) {
		l.Value = r.Value
	} else {
		l.ValueBase64 = r.Value
	}
	if len(r.Headers) > 0 {
		l.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			l.Headers[h.Key] = string(h.Value)
		}
	}
	return l
}

func bufferFail(stderr io.Writer, err error) int {
	if errors.Is(err, buffer.ErrLocked) {
		fmt.Fprintf(stderr, "edgepm buffer: %v\nthe appliance is running; stop it first (systemctl stop edgepm)\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "edgepm buffer: %v\n", err)
	return 1
}
