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
// padding rows zeroed and nothing is allocated per batch by edgepm. A batch
// read in place runs on an input tensor over its feature slab instead
// (slabInputs: created once per slab and bucket, reused with the slab).
// Not safe for concurrent use: Run's goroutine is its only user after load.
type scorer struct {
	sess    *ort.DynamicAdvancedSession
	f, k    int
	row     []int64 // shape of one input row: [f], or [T, S] for a window input
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

// newScorer creates the session and bucket tensors for input rows of shape
// row ([F] or [T, S]) and k outputs per row.
func newScorer(onnx []byte, inName, outName string, row []int64, k, maxBatch int, sc SessionConfig) (*scorer, error) {
	f := 1
	for _, d := range row {
		f *= int(d)
	}
	opts, err := sessionOptions(sc)
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnx, []string{inName}, []string{outName}, opts)
	if err != nil {
		return nil, err
	}
	s := &scorer{sess: sess, f: f, k: k, row: row, in: make([]float32, maxBatch*f), out: make([]float32, maxBatch*k)}
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
	in, err := ort.NewTensor(s.shape(n), s.in[:n*s.f])
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

// shape returns the input tensor shape of n rows.
func (s *scorer) shape(n int) ort.Shape {
	return ort.NewShape(append([]int64{int64(n)}, s.row...)...)
}

// maxRows returns the largest batch run accepts.
func (s *scorer) maxRows() int { return s.buckets[len(s.buckets)-1].n }

// input returns the input buffer for rows [0, n).
func (s *scorer) input(n int) []float32 { return s.in[:n*s.f] }

// bucket returns the index of the smallest bucket of at least n rows
// (n <= maxRows).
func (s *scorer) bucket(n int) int {
	for i := range s.buckets {
		if s.buckets[i].n >= n {
			return i
		}
	}
	return len(s.buckets) - 1
}

// run scores the first n rows of the input buffer (n <= maxRows) and
// returns their outputs (a view of the output buffer, valid until the next run).
func (s *scorer) run(n int) ([]float32, error) {
	bi := s.bucket(n)
	clear(s.in[n*s.f : s.buckets[bi].n*s.f])
	return s.runOn(s.buckets[bi].ins, bi, n)
}

// runOn scores n rows of the inputs ins (a tensor of bucket bi's shape)
// into the output buffer and returns their outputs.
func (s *scorer) runOn(ins []ort.Value, bi, n int) ([]float32, error) {
	if err := s.sess.Run(ins, s.buckets[bi].outs); err != nil {
		return nil, err
	}
	return s.out[:n*s.k], nil
}

// slabInputs returns an input tensor of bucket bi's shape over slab sl's
// rows, creating it on first use.
func (s *scorer) slabInputs(sl *featSlab, bi int) ([]ort.Value, error) {
	if bi < len(sl.ins) && sl.ins[bi] != nil {
		return sl.ins[bi], nil
	}
	n := s.buckets[bi].n
	t, err := ort.NewTensor(s.shape(n), sl.data[:n*s.f])
	if err != nil {
		return nil, fmt.Errorf("input tensor over feature slab: %w", err)
	}
	if len(sl.ins) < len(s.buckets) {
		sl.tensors = make([]*ort.Tensor[float32], len(s.buckets))
		sl.ins = make([][]ort.Value, len(s.buckets))
	}
	sl.tensors[bi], sl.ins[bi] = t, []ort.Value{t}
	return sl.ins[bi], nil
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
