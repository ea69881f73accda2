//go:build !unix

package buffer

import "errors"

func diskFree(string) (int64, error) {
	return 0, errors.New("free disk space: not supported on this platform")
}
