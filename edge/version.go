package edge

// Version is edgepm's version, set at build time with
// -ldflags "-X github.com/edgepm/edgepm/edge.Version=...".
var Version = "dev"
