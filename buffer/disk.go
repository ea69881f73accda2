package buffer

import (
	"fmt"
	"path/filepath"
)

// CondDiskSmall: at Open, the disk holding the buffer had less room (free
// space plus the file's current size) than Options.MaxBytes, so the disk,
// not the cap, will stop the buffer when the uplink is down long enough
// (appends then fail with ErrWrite). Stays raised until the process
// restarts.
const CondDiskSmall = "buffer_disk_small"

// checkDiskRoom raises CondDiskSmall (and logs it) when MaxBytes exceeds what
// the file can grow to on its filesystem. A filesystem that cannot be asked
// is not a warning.
func (q *Queue) checkDiskRoom() {
	free, err := q.opts.freeBytes(filepath.Dir(q.path))
	if err != nil {
		q.log.Debug("buffer: free disk space unknown", "err", err)
		return
	}
	q.mu.Lock()
	room := free + q.fileSize
	q.mu.Unlock()
	if q.opts.MaxBytes <= room {
		return
	}
	msg := fmt.Sprintf("buffer.max_bytes=%d is more than the disk holding %s has room for (%d bytes free + %d in the file): "+
		"a long uplink outage will fill the disk before the cap; lower buffer.max_bytes or free disk space",
		q.opts.MaxBytes, filepath.Dir(q.path), free, room-free)
	q.log.Warn("buffer.max_bytes exceeds the free disk space", "max_bytes", q.opts.MaxBytes,
		"free_bytes", free, "file_bytes", room-free, "data_dir", filepath.Dir(q.path))
	q.setCondition(CondDiskSmall, SeverityWarning, msg)
}
