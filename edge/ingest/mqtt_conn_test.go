package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Writes from concurrent writers reach the peer complete, each Write in
// one piece, and in order per writer.
func TestBufConnWritesArriveInOrder(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	const writers, per = 4, 5000
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				var rec [9]byte
				rec[0] = byte(w)
				binary.BigEndian.PutUint64(rec[1:], uint64(i))
				if _, err := c.Write(rec[:]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	all := <-got
	if len(all) != writers*per*9 {
		t.Fatalf("peer read %d bytes, want %d", len(all), writers*per*9)
	}
	next := make([]uint64, writers)
	for off := 0; off < len(all); off += 9 {
		w, i := all[off], binary.BigEndian.Uint64(all[off+1:])
		if int(w) >= writers || i != next[w] {
			t.Fatalf("at %d: writer %d record %d, want %d", off, w, i, next[w])
		}
		next[w]++
	}
}

// Close sends what is still queued before closing.
func TestBufConnCloseFlushes(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()
	want := bytes.Repeat([]byte("puback"), 1000)
	for i := 0; i < len(want); i += 6 {
		if _, err := c.Write(want[i : i+6]); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatalf("peer read %d bytes, want %d", len(all), len(want))
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// A failed write is returned by a later Write and closes the connection,
// so a reader blocked on it (paho's) sees the failure.
func TestBufConnWriteErrorClosesConn(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	_ = b.Close() // the peer goes away
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = c.Write([]byte("data"))
		time.Sleep(time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes kept succeeding after the peer closed")
	}
	if err := <-readErr; err == nil {
		t.Fatal("read did not fail")
	}
	_ = c.Close()
}

// With the peer not reading, Write blocks once maxPendingWrite bytes are
// queued (backpressure, as on a plain socket), and continues when the peer
// reads.
func TestBufConnBoundsQueuedBytes(t *testing.T) {
	a, b := net.Pipe()
	c := newBufConn(a)
	defer c.Close()
	chunk := make([]byte, 4096)
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for n < 4*maxPendingWrite {
			if _, err := c.Write(chunk); err != nil {
				break
			}
			n += len(chunk)
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("wrote %d bytes to a peer that reads nothing", n)
	case <-time.After(200 * time.Millisecond):
	}
	go io.Copy(io.Discard, b)
	if n := <-wrote; n != 4*maxPendingWrite {
		t.Fatalf("wrote %d bytes", n)
	}
}
