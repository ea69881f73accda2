package buffer

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var crashRounds = flag.Int("crash-rounds", 20, "rounds of the SIGKILL crash test")

const crashEnv = "EDGEPM_BUFFER_CRASH_CHILD"

// crashCompactEnv makes the crash child compact all the time: any file over
// 64 KiB is compacted, again as soon as the last compaction finished.
const crashCompactEnv = "EDGEPM_BUFFER_CRASH_COMPACT"

// crashChild runs the crash test's child when the env var names a buffer
// file: appenders print "append <stream> <seq> <id>" after each Append
// returned, an acker prints "ackintent <stream> <seq>" before each Ack. It
// runs until it is killed.
func crashChild() bool {
	path := os.Getenv(crashEnv)
	if path == "" {
		return false
	}
	opts := Options{}
	if os.Getenv(crashCompactEnv) != "" {
		opts.CompactRatio, opts.CompactMinBytes = 1e-9, 64<<10
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)) // "buffer compacted" lines count the swaps
	}
	q, err := Open(path, withReports(opts))
	if err != nil {
		fmt.Fprintf(os.Stderr, "child error: open: %v\n", err)
		os.Exit(2)
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format, args...) // unbuffered: one write per line
		out.Unlock()
	}
	run := fmt.Sprint(time.Now().UnixNano())
	for w := range 6 {
		go crashAppender(q, say, fmt.Sprintf("%s-%d", run, w))
	}
	go crashAcker(q, say)
	select {}
}

func crashAppender(q *Queue, say func(string, ...any), worker string) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for n := 0; ; {
		stream := StreamReadings
		if rng.IntN(4) == 0 {
			stream = StreamAlerts
		}
		recs := make([]Record, 1+rng.IntN(4))
		for i := range recs {
			recs[i] = Record{Stream: stream, Key: []byte("k"), Value: fmt.Appendf(nil, "%s-%d", worker, n)}
			n++
		}
		if err := q.Append(context.Background(), recs); err != nil {
			fmt.Fprintf(os.Stderr, "child error: append: %v\n", err)
			os.Exit(2)
		}
		for _, r := range recs {
			say("append %s %d %s\n", r.Stream, r.Seq, r.Value)
		}
	}
}

// crashAcker acks the readings stream behind the appenders, as the bridge would.
func crashAcker(q *Queue, say func(string, ...any)) {
	var after uint64
	for {
		time.Sleep(5 * time.Millisecond)
		recs, err := q.Read(StreamReadings, after, 200)
		if err != nil || len(recs) < 100 {
			continue
		}
		upTo := recs[len(recs)/2].Seq
		say("ackintent %s %d\n", StreamReadings, upTo)
		if err := q.Ack(StreamReadings, upTo); err != nil {
			fmt.Fprintf(os.Stderr, "child error: ack: %v\n", err)
			os.Exit(2)
		}
		after = upTo
	}
}

type appended struct {
	stream string
	seq    uint64
	id     string
}

func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "buffer.db")
	var all []appended
	ackIntent := map[string]uint64{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := range *crashRounds {
		out, stderr := runAndKill(t, path, time.Duration(rng.IntN(250))*time.Millisecond, "")
		got, acks := parseChild(t, out)
		if strings.Contains(stderr, "child error") {
			t.Fatalf("round %d: child failed: %s", round, stderr)
		}
		if len(got) == 0 {
			t.Fatalf("round %d: the child appended nothing before the kill (stderr: %s)", round, stderr)
		}
		for s, v := range acks {
			ackIntent[s] = max(ackIntent[s], v)
		}
		all = append(all, got...)
		verifyCrashRound(t, path, all, ackIntent, round)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) > 0 {
		t.Fatalf("file was moved aside: %v", m)
	}
	t.Logf("%d rounds, %d acknowledged appends", *crashRounds, len(all))
}

// TestCrashSIGKILLDuringCompaction is TestCrashSIGKILL with a child that
// compacts its file all the time (copy into buffer.db.compact while commits
// go on, swap, rename, fsyncs), so kills land in every phase of a
// compaction: every append that returned must survive, exactly once, in
// order, and the file must open cleanly. Rounds go on until at least 3
// kills found a compaction under way (a buffer.db.compact file left
// behind), at most 60.
func TestCrashSIGKILLDuringCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "buffer.db")
	var all []appended
	ackIntent := map[string]uint64{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	midCompaction, swaps, round := 0, 0, 0
	for ; round < 60 && (midCompaction < 3 || round < 10); round++ {
		out, stderr := runAndKill(t, path, time.Duration(50+rng.IntN(400))*time.Millisecond, crashCompactEnv+"=1")
		got, acks := parseChild(t, out)
		if strings.Contains(stderr, "child error") {
			t.Fatalf("round %d: child failed: %s", round, stderr)
		}
		if len(got) == 0 {
			t.Fatalf("round %d: the child appended nothing before the kill (stderr: %s)", round, stderr)
		}
		if _, err := os.Stat(path + compactSuffix); err == nil {
			midCompaction++
		}
		swaps += strings.Count(stderr, "buffer compacted")
		for s, v := range acks {
			ackIntent[s] = max(ackIntent[s], v)
		}
		all = append(all, got...)
		verifyCrashRound(t, path, all, ackIntent, round)
		if _, err := os.Stat(path + compactSuffix); !os.IsNotExist(err) {
			t.Fatalf("round %d: the leftover compaction copy was not removed at open", round)
		}
	}
	if midCompaction == 0 || swaps == 0 {
		t.Fatalf("%d rounds: %d kills during a compaction, %d compactions completed: the test did not test what it says",
			round, midCompaction, swaps)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) > 0 {
		t.Fatalf("file was moved aside: %v", m)
	}
	t.Logf("%d rounds, %d of them killed during a compaction, %d compactions completed, %d acknowledged appends",
		round, midCompaction, swaps, len(all))
}

// runAndKill starts the child, waits until it has reported its first
// durable append (so a round never kills a child that is still opening the
// file and checks nothing), lets it run for after, and kills it.
func runAndKill(t *testing.T, path string, after time.Duration, extraEnv string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	if extraEnv != "" {
		cmd.Env = append(cmd.Env, extraEnv)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	first, eof := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(pipe)
		for seen := false; ; {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a partial last line cannot happen (one write per line) and is dropped
			}
			out.WriteString(line)
			if !seen && strings.HasPrefix(line, "append ") {
				seen = true
				close(first)
			}
		}
	}()
	select {
	case <-first:
		time.Sleep(after)
	case <-eof: // the child exited on its own: an error it reported on stderr
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-eof
	_ = cmd.Wait()
	return out.String(), errb.String()
}

func parseChild(t *testing.T, out string) ([]appended, map[string]uint64) {
	t.Helper()
	var got []appended
	acks := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// Each line is one write(2) of < PIPE_BUF bytes: whole or absent.
		var seq uint64
		if len(f) < 3 {
			continue
		}
		if _, err := fmt.Sscan(f[2], &seq); err != nil {
			t.Fatalf("bad child line %q", sc.Text())
		}
		switch {
		case f[0] == "append" && len(f) == 4:
			got = append(got, appended{f[1], seq, f[3]})
		case f[0] == "ackintent":
			acks[f[1]] = max(acks[f[1]], seq)
		}
	}
	return got, acks
}

// verifyCrashRound reopens the file: it must open cleanly, and every append
// that returned must be there exactly once (unless acked), in order.
func verifyCrashRound(t *testing.T, path string, all []appended, ackIntent map[string]uint64, round int) {
	t.Helper()
	q, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer func() { _ = q.Close() }()
	if h := q.Health(); len(h) != 0 {
		t.Fatalf("round %d: health after crash: %+v", round, h)
	}
	stored := map[string]appended{}
	for _, s := range []string{StreamReadings, StreamAlerts} {
		recs, err := q.Read(s, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		var prev uint64
		for _, r := range recs {
			id := string(r.Value)
			if _, dup := stored[id]; dup {
				t.Fatalf("round %d: %s stored twice", round, id)
			}
			if r.Seq <= prev {
				t.Fatalf("round %d: %s out of order", round, s)
			}
			prev = r.Seq
			stored[id] = appended{s, r.Seq, id}
		}
	}
	for _, a := range all {
		if a.seq <= ackIntent[a.stream] {
			continue
		}
		got, ok := stored[a.id]
		if !ok {
			t.Fatalf("round %d: acknowledged append %+v lost", round, a)
		}
		if got.stream != a.stream || got.seq != a.seq {
			t.Fatalf("round %d: %+v stored as %+v", round, a, got)
		}
	}
}
