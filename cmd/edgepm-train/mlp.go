package main

import (
	"math"
	"math/rand/v2"
)

// mlp is a one-hidden-layer network: p = sigmoid(w2·relu(W1·z + b1) + b2),
// z the standardised features (a regression network leaves out the
// sigmoid). Training is single-threaded float64 with a seeded generator, so
// the same data and seed give the same weights.
type mlp struct {
	w1 [][]float64 // [hidden][f]
	b1 []float64
	w2 []float64
	b2 float64
}

type trainConfig struct {
	Seed      uint64
	Hidden    int
	Epochs    int
	Batch     int
	LR        float64
	L2        float64
	PosWeight float64 // weight of positive examples in the loss (class imbalance)
	// Regression trains a linear output on the squared error instead of a
	// sigmoid on the binary cross-entropy (PosWeight is then unused).
	Regression bool
}

func newMLP(f, hidden int, rng *rand.Rand) *mlp {
	m := &mlp{w1: make([][]float64, hidden), b1: make([]float64, hidden), w2: make([]float64, hidden)}
	scale := math.Sqrt(2 / float64(f))
	for i := range m.w1 {
		m.w1[i] = make([]float64, f)
		for j := range m.w1[i] {
			m.w1[i][j] = rng.NormFloat64() * scale
		}
		m.w2[i] = rng.NormFloat64() * math.Sqrt(1/float64(hidden))
	}
	return m
}

// forward returns the hidden activations (into h) and the probability.
func (m *mlp) forward(z []float64, h []float64) float64 {
	return 1 / (1 + math.Exp(-m.linear(z, h)))
}

// linear returns the hidden activations (into h) and the output before the
// sigmoid: the prediction of a regression network.
func (m *mlp) linear(z []float64, h []float64) float64 {
	s := m.b2
	for i, row := range m.w1 {
		a := m.b1[i]
		for j, w := range row {
			a += w * z[j]
		}
		h[i] = max(a, 0)
		s += m.w2[i] * h[i]
	}
	return s
}

// adam holds first and second moment estimates for one parameter vector.
type adam struct{ m, v []float64 }

func newAdam(n int) *adam { return &adam{m: make([]float64, n), v: make([]float64, n)} }

func (a *adam) step(p, g []float64, lr float64, t int) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	c1, c2 := 1-math.Pow(b1, float64(t)), 1-math.Pow(b2, float64(t))
	for i := range p {
		a.m[i] = b1*a.m[i] + (1-b1)*g[i]
		a.v[i] = b2*a.v[i] + (1-b2)*g[i]*g[i]
		p[i] -= lr * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + eps)
	}
}

// train fits the network on standardised rows zs with labels ys using
// mini-batch Adam on class-weighted binary cross-entropy, or with
// tc.Regression on half the squared error. Both losses have the gradient
// (output - y) with respect to the last layer's pre-activation.
func train(zs [][]float64, ys []float64, tc trainConfig) *mlp {
	rng := rand.New(rand.NewPCG(tc.Seed, 0x5eed))
	f := len(zs[0])
	m := newMLP(f, tc.Hidden, rng)
	// Flattened views for the optimiser.
	params := make([]float64, tc.Hidden*f+tc.Hidden+tc.Hidden+1)
	grads := make([]float64, len(params))
	opt := newAdam(len(params))
	order := make([]int, len(zs))
	for i := range order {
		order[i] = i
	}
	h := make([]float64, tc.Hidden)
	t := 0
	for epoch := 0; epoch < tc.Epochs; epoch++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += tc.Batch {
			end := min(start+tc.Batch, len(order))
			clear(grads)
			var wsum float64
			for _, idx := range order[start:end] {
				w := 1.0
				var p float64
				if tc.Regression {
					p = m.linear(zs[idx], h)
				} else {
					if ys[idx] > 0.5 {
						w = tc.PosWeight
					}
					p = m.forward(zs[idx], h)
				}
				wsum += w
				d := w * (p - ys[idx]) // dLoss/dlogit
				m.backward(zs[idx], h, d, grads)
			}
			for i := range grads {
				grads[i] /= wsum
			}
			m.pack(params)
			for i := 0; i < tc.Hidden*f; i++ { // L2 on first-layer weights
				grads[i] += tc.L2 * params[i]
			}
			t++
			opt.step(params, grads, tc.LR, t)
			m.unpack(params)
		}
	}
	return m
}

// backward accumulates the gradients of one example (d = dLoss/dlogit).
func (m *mlp) backward(z, h []float64, d float64, g []float64) {
	f := len(z)
	hidden := len(m.w1)
	ob1, ow2 := hidden*f, hidden*f+hidden
	for i := range m.w1 {
		g[ow2+i] += d * h[i]
		if h[i] <= 0 {
			continue
		}
		dh := d * m.w2[i]
		g[ob1+i] += dh
		row := g[i*f : (i+1)*f]
		for j := range row {
			row[j] += dh * z[j]
		}
	}
	g[len(g)-1] += d
}

func (m *mlp) pack(p []float64) {
	f := len(m.w1[0])
	for i, row := range m.w1 {
		copy(p[i*f:], row)
	}
	n := len(m.w1) * f
	copy(p[n:], m.b1)
	copy(p[n+len(m.b1):], m.w2)
	p[len(p)-1] = m.b2
}

func (m *mlp) unpack(p []float64) {
	f := len(m.w1[0])
	for i, row := range m.w1 {
		copy(row, p[i*f:(i+1)*f])
	}
	n := len(m.w1) * f
	copy(m.b1, p[n:])
	copy(m.w2, p[n+len(m.b1):])
	m.b2 = p[len(p)-1]
}
