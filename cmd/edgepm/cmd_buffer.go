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
	"github.com/edgepm/edgepm/internal/wire"
)

const bufferUsage = `usage:
  edgepm buffer inspect (--data-dir DIR | --salvage FILE) [--json]
  edgepm buffer export  (--data-dir DIR | --salvage FILE) --stream S [--after N] [--limit N]

Both read DIR/buffer.db of a stopped appliance (read-only). export writes
one JSON object per record.

--salvage FILE reads a file the buffer cannot open (a buffer.db.corrupt-*
moved aside at start, or a damaged buffer.db) page by page and shows or
exports every record whose own checksum is intact, as the appliance's
salvage at start does. It only reads FILE.
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

// bufferSource is where inspect and export read: the data dir's buffer.db,
// or (--salvage) a file to page-scan.
type bufferSource struct {
	dir     *string
	salvage *string
}

func bufferFlags(name string, stderr io.Writer) (*flag.FlagSet, bufferSource) {
	fs := flag.NewFlagSet("edgepm buffer "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := bufferSource{
		dir:     fs.String("data-dir", "", "the appliance's data directory (holds buffer.db)"),
		salvage: fs.String("salvage", "", "page-scan this file (one the buffer cannot open) instead"),
	}
	return fs, src
}

// ok reports whether exactly one of --data-dir and --salvage is set.
func (s bufferSource) ok() bool { return (*s.dir == "") != (*s.salvage == "") }

func (s bufferSource) inspect() (*buffer.Report, error) {
	if *s.salvage != "" {
		return buffer.InspectSalvage(*s.salvage, wire.StreamOf)
	}
	return buffer.Inspect(filepath.Join(*s.dir, "buffer.db"))
}

func (s bufferSource) export(stream string, after uint64, limit int, fn func(buffer.Record) error) error {
	if *s.salvage != "" {
		return buffer.ExportSalvage(*s.salvage, stream, after, limit, wire.StreamOf, fn)
	}
	return buffer.Export(filepath.Join(*s.dir, "buffer.db"), stream, after, limit, fn)
}

func bufferInspect(args []string, stdout, stderr io.Writer) int {
	fs, src := bufferFlags("inspect", stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if !src.ok() || fs.NArg() > 0 {
		fmt.Fprint(stderr, "edgepm buffer inspect: one of --data-dir and --salvage is required\n"+bufferUsage)
		return 2
	}
	rep, err := src.inspect()
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
	if rep.Salvage == nil {
		fmt.Fprintf(w, "buffer %s: file %s, format %d, created %s\n\n", rep.Path, humanBytes(rep.FileSize), rep.Format, rep.Created)
	} else { // the file's header is what could not be read: no format or creation time
		fmt.Fprintf(w, "buffer %s: file %s, salvaged\n\n", rep.Path, humanBytes(rep.FileSize))
	}
	if s := rep.Salvage; s != nil {
		fmt.Fprintf(w, "page scan (%d-byte pages): %d pages, %d intact records, %d recovered, %d of no known stream, %d damaged\n\n",
			s.PageSize, s.Pages, s.Intact, s.Recovered, s.Unattributed, s.Damaged)
	}
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
	fs, src := bufferFlags("export", stderr)
	stream := fs.String("stream", "", "stream to export (readings, predictions, alerts, events, deadletter, gateways)")
	after := fs.Uint64("after", 0, "export records with seq > N")
	limit := fs.Int("limit", 0, "export at most N records (0 = all)")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if !src.ok() || *stream == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, "edgepm buffer export: --stream and one of --data-dir and --salvage are required\n"+bufferUsage)
		return 2
	}
	enc := json.NewEncoder(stdout)
	err := src.export(*stream, *after, *limit, func(r buffer.Record) error {
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
