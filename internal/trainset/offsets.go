package trainset

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// span is a partition's offsets when the extraction began: [start, end).
type span struct{ start, end int64 }

func (s span) empty() bool { return s.start >= s.end }

// errNoTopic is returned by listSpans for a topic that does not exist.
var errNoTopic = errors.New("topic does not exist")

// listSpans lists the start and end offsets of every partition of topic.
func listSpans(ctx context.Context, adm *kadm.Client, topic string) (map[int32]span, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	spans := map[int32]span{}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
			lerr = fmt.Errorf("%s: %w", topic, errNoTopic)
		case o.Err != nil:
			lerr = fmt.Errorf("list offsets of %s partition %d: %w", topic, o.Partition, o.Err)
		default:
			spans[o.Partition] = span{end: o.Offset}
		}
	})
	starts.Each(func(o kadm.ListedOffset) {
		if s, ok := spans[o.Partition]; ok && o.Err == nil {
			s.start = o.Offset
			spans[o.Partition] = s
		}
	})
	if lerr != nil {
		return nil, lerr
	}
	return spans, nil
}
