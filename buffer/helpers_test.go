package buffer

import (
	"errors"
	"hash/crc32"
	"strconv"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func goQuote(b []byte) string { return strconv.Quote(string(b)) }
