// Package schematest validates edgepm's Kafka record values against the JSON
// Schemas published in docs/schemas (draft 2020-12, format version 1). It is
// for tests: the appliance itself never validates what it writes.
//
// A Set is safe for concurrent use once loaded; Load reads files and blocks
// on the disk, Validate only computes.
package schematest
