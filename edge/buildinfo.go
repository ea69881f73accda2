package edge

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// buildInfo is edgepm_build_info{version,goversion,model}: always 1, with
// the model label read at scrape time ("name@version" of the model being
// served, "" while none is), so a dashboard can join any series to the
// release and model that produced it.
type buildInfo struct {
	desc   *prometheus.Desc
	active func() (name, version string, ok bool)
}

func newBuildInfo(active func() (name, version string, ok bool)) *buildInfo {
	return &buildInfo{
		desc: prometheus.NewDesc("edgepm_build_info",
			"Always 1: the running release (version), the Go release it was built with, and the served model (name@version, empty while none is).",
			[]string{"version", "goversion", "model"}, nil),
		active: active,
	}
}

func (b *buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *buildInfo) Collect(ch chan<- prometheus.Metric) {
	model := ""
	if name, version, ok := b.active(); ok {
		model = name + "@" + version
	}
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, 1, Version, runtime.Version(), model)
}
