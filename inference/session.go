package inference

import (
	"errors"
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// scorer owns one ONNX Runtime session and the tensors it runs on. The
// input and output buffers are allocated once for MaxBatch rows; tensors
// for each bucket size (powers of two up to MaxBatch) are views of the same
// buffers, so a batch of n rows runs on the smallest bucket >= n with the
// padding rows zeroed and nothing is allocated per batch by edgepm.
// Not safe for concurrent use: Run's goroutine is its only user after load.
type scorer struct {
	sess    *ort.DynamicAdvancedSession
	f, k    int
	in, out []float32
	buckets []bucket
}

type bucket struct {
	n         int
	in, out   *ort.Tensor[float32]
	ins, outs []ort.Value
}

func sessionOptions(sc SessionConfig) (*ort.SessionOptions, error) {
	o, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	spin := "0"
	if sc.AllowSpinning {
		spin = "1"
	}
	err = errors.Join(
		o.SetIntraOpNumThreads(sc.IntraOpThreads),
		o.SetInterOpNumThreads(sc.InterOpThreads),
		o.AddSessionConfigEntry("session.intra_op.allow_spinning", spin),
		o.AddSessionConfigEntry("session.inter_op.allow_spinning", spin),
	)
	if sc.DisableMemArena {
		err = errors.Join(err, o.SetCpuMemArena(false))
	}
	for k, v := range sc.Entries {
		err = errors.Join(err, o.AddSessionConfigEntry(k, v))
	}
	if err != nil {
		o.Destroy()
		return nil, err
	}
	return o, nil
}

// newScorer creates the session and bucket tensors for f inputs and k
// outputs per row.
func newScorer(onnx []byte, inName, outName string, f, k, maxBatch int, sc SessionConfig) (*scorer, error) {
	opts, err := sessionOptions(sc)
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx, []string{inName}, []string{outName}, opts)
	if err != nil {
		return nil, err
	}
	s := &scorer{sess: sess, f: f, k: k, in: make([]float32, maxBatch*f), out: make([]float32, maxBatch*k)}
	for n := 1; ; n *= 2 {
		n = min(n, maxBatch)
		if err := s.addBucket(n); err != nil {
			s.destroy()
			return nil, err
		}
		if n == maxBatch {
			break
		}
	}
	return s, nil
}

func (s *scorer) addBucket(n int) error {
	in, err := ort.NewTensor(ort.NewShape(int64(n), int64(s.f)), s.in[:n*s.f])
	if err != nil {
		return fmt.Errorf("input tensor: %w", err)
	}
	out, err := ort.NewTensor(ort.NewShape(int64(n), int64(s.k)), s.out[:n*s.k])
	if err != nil {
		in.Destroy()
		return fmt.Errorf("output tensor: %w", err)
	}
	s.buckets = append(s.buckets, bucket{n: n, in: in, out: out, ins: []ort.Value{in}, outs: []ort.Value{out}})
	return nil
}

// maxRows returns the largest batch run accepts.
func (s *scorer) maxRows() int { return s.buckets[len(s.buckets)-1].n }

// input returns the input buffer for rows [0, n).
func (s *scorer) input(n int) []float32 { return s.in[:n*s.f] }

// run scores the first n rows of the input buffer (n <= maxRows) and
// returns their outputs (a view of the output buffer, valid until the next run).
func (s *scorer) run(n int) ([]float32, error) {
	b := &s.buckets[len(s.buckets)-1]
	for i := range s.buckets {
		if s.buckets[i].n >= n {
			b = &s.buckets[i]
			break
		}
	}
	clear(s.in[n*s.f : b.n*s.f])
	if err := s.sess.Run(b.ins, b.outs); err != nil {
		return nil, err
	}
	return s.out[:n*s.k], nil
}

// destroy releases the session and tensors (idempotent).
func (s *scorer) destroy() {
	for _, b := range s.buckets {
		b.in.Destroy()
		b.out.Destroy()
	}
	s.buckets = nil
	if s.sess != nil {
		s.sess.Destroy()
		s.sess = nil
	}
}
