package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readTopic calls fn for every record of topic (a full topic name) up to
// the end offsets taken at the start, oldest first per partition
// (duplicate keys: later records win). what names the operation in errors
// ("list models"). extra options are added to the consuming client's.
func readTopic(ctx context.Context, cfg Config, log *slog.Logger, what, topic string, fn func(*kgo.Record), extra ...kgo.Opt) error {
	cl, err := newModelsClient(cfg, log, false, append([]kgo.Opt{kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}, extra...)...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("%s: end offsets: %w", what, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("%s: fetch: %w", what, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			fn(r)
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return nil
}
