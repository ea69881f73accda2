package buffer

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Append durably commits recs as one unit (all or none) and assigns Seq (and
// Time, when zero) to each record in place. Concurrent appenders share one
// bbolt transaction and one fsync. It returns when the records are durable,
// or with ctx's error if ctx ends before the commit started (nothing stored),
// or ErrClosed, ErrFull (after Options.FullWait), ErrTooLarge,
// ErrUnknownStream, or ErrWrite wrapping the disk error.
func (q *Queue) Append(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	sizes, err := q.checkAppend(recs)
	if err != nil {
		return fmt.Errorf("buffer append: %w", err)
	}
	var timeout <-chan time.Time
	if q.opts.FullWait > 0 {
		t := time.NewTimer(q.opts.FullWait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		space := q.spaceSignal()
		err := q.submit(ctx, &request{kind: reqAppend, recs: recs, sizes: sizes})
		if !errors.Is(err, errNoRoom) {
			if err != nil {
				return fmt.Errorf("buffer append: %w", err)
			}
			return nil
		}
		if q.opts.waiting != nil {
			q.opts.waiting()
		}
		select {
		case <-space:
		case <-timeout:
			return fmt.Errorf("buffer append to %s: %w", recs[0].Stream, ErrFull)
		case <-ctx.Done():
			return fmt.Errorf("buffer append to %s: %w", recs[0].Stream, errors.Join(ErrFull, ctx.Err()))
		case <-q.quit:
			return fmt.Errorf("buffer append: %w", ErrClosed)
		}
	}
}

// checkAppend validates recs and returns their framed sizes.
func (q *Queue) checkAppend(recs []Record) ([]int, error) {
	sizes := make([]int, len(recs))
	per := make(map[string]int64, 1)
	var total int64
	for i := range recs {
		st, err := q.stream(recs[i].Stream)
		if err != nil {
			return nil, err
		}
		sizes[i] = encodedLen(&recs[i])
		if sizes[i] > q.opts.MaxRecordBytes {
			return nil, fmt.Errorf("%w: %d bytes > max %d", ErrTooLarge, sizes[i], q.opts.MaxRecordBytes)
		}
		n := storedSize(sizes[i])
		per[st.name] += n
		total += n
		if st.opts.MaxBytes > 0 && per[st.name] > st.opts.MaxBytes {
			return nil, fmt.Errorf("%w: %d bytes > cap of stream %s", ErrTooLarge, per[st.name], st.name)
		}
	}
	if total > q.opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes > buffer cap", ErrTooLarge, total)
	}
	return sizes, nil
}
