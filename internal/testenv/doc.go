// Package testenv starts the real servers that edgepm's integration tests
// talk to: a private Mosquitto (from Debian's packages) on a free loopback
// port and a kfake Kafka-protocol broker, both owned by the calling test and
// stopped in t.Cleanup. It also locates the ONNX Runtime shared library.
//
// A missing dependency skips the test on a developer's machine and fails it
// when CI=true, so CI can never pass by skipping. Only test code imports
// this package; production binaries never link it.
//
// The helpers are safe to call from parallel tests; each call starts its own
// server.
package testenv
