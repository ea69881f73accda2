package wire

import (
	"strconv"

	"github.com/edgepm/edgepm/buffer"
)

// Version is the format version of every record value ("v") and of the
// edgepm-schema header.
const Version = 1

// Header names of the records edgepm produces (docs/formats/kafka-records.md,
// "Record") and of the model topic's records (docs/formats/model-delivery.md).
const (
	// HeaderSchema carries Version, decimal, on every record the gateway
	// produces.
	HeaderSchema = "edgepm-schema"
	// HeaderModel carries "name:version" of the model behind a prediction or
	// alert, and the model id on the model topic's records.
	HeaderModel = "edgepm-model"
	// HeaderGateway, HeaderStream and HeaderSeq are the de-duplication key
	// the bridge adds to every record it sends.
	HeaderGateway = "edgepm-gateway"
	HeaderStream  = "edgepm-stream"
	HeaderSeq     = "edgepm-seq"
	// HeaderBacklog ("1") marks records sent from a backlog.
	HeaderBacklog = "edgepm-backlog"
	// HeaderShadow (ShadowValue) marks a prediction of a shadow model: a
	// challenger scored next to the served model, whose predictions raise
	// no alerts. Its HeaderModel names the shadow model.
	HeaderShadow = "edgepm-shadow"
	// HeaderModelKind (pointer, archive, chunk) and HeaderChunk ("I/N") are
	// set on the model topic's records.
	HeaderModelKind = "edgepm-model-kind"
	HeaderChunk     = "edgepm-chunk"
)

// BacklogValue is the value of HeaderBacklog.
const BacklogValue = "1"

// ShadowValue is the value of HeaderShadow.
const ShadowValue = "1"

var versionText = strconv.Itoa(Version)

// schemaHeaders is shared by the records of the hot paths (readings, dead
// letters): one slice for all of them.
var schemaHeaders = []buffer.Header{SchemaHeader()}

// SchemaHeader returns the edgepm-schema header with its own value slice.
func SchemaHeader() buffer.Header {
	return buffer.Header{Key: HeaderSchema, Value: []byte(versionText)}
}

// SchemaHeaders returns the header list of a record with no other header
// (readings, dead letters). The slice is shared by every caller: do not
// modify it.
func SchemaHeaders() []buffer.Header { return schemaHeaders }

// ModelHeaders returns the header list of a prediction or alert of the model
// name:version (a new slice).
func ModelHeaders(name, version string) []buffer.Header {
	return []buffer.Header{schemaHeaders[0], {Key: HeaderModel, Value: []byte(name + ":" + version)}}
}

// ShadowHeaders returns the header list of a shadow model's prediction (a
// new slice): ModelHeaders of the shadow model, then HeaderShadow.
func ShadowHeaders(name, version string) []buffer.Header {
	return append(ModelHeaders(name, version), buffer.Header{Key: HeaderShadow, Value: []byte(ShadowValue)})
}
