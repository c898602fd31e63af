package egress

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
)

// readBufSize is the chunk the body is read in. The body is never held
// whole: each chunk is hashed and only the preview is kept, so memory per
// attempt is this buffer plus the preview, whatever the cap.
const readBufSize = 16 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// bodySummary describes the part of a response body that was read.
type bodySummary struct {
	preview      []byte
	sha256       string
	size         int64
	truncated    bool
	decompressed bool
	// decodeErr is set when the bytes arrived but could not be
	// decompressed; the transfer itself succeeded.
	decodeErr error
}

// netErrReader remembers the first error, other than io.EOF, that the
// underlying body returned. A decompressor passes such errors on, and may
// also turn a clean EOF into io.ErrUnexpectedEOF; remembering what the
// network said tells a broken transfer (an attempt error) from a broken
// encoding (a note on the body).
type netErrReader struct {
	r   io.Reader
	err error
}

func (n *netErrReader) Read(p []byte) (int, error) {
	k, err := n.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && n.err == nil {
		n.err = err
	}
	return k, err
}

// readBody reads body, undoing a gzip or deflate Content-Encoding, until
// EOF or until limit decoded bytes, hashing what it reads and keeping the
// first previewN bytes. The cap counts decoded bytes, so a small
// compressed body that expands to gigabytes is read only up to limit. It
// reads one byte past limit to tell a body of exactly limit bytes from a
// longer one. A non-nil error is a transfer error (timeout, reset, short
// body); the summary then describes what had arrived.
func readBody(body io.Reader, contentEncoding string, limit int64, previewN int) (bodySummary, error) {
	var s bodySummary
	src := &netErrReader{r: body}
	r, decompressed, err := decoder(src, contentEncoding)
	s.decompressed = decompressed
	h := sha256.New()
	if err != nil {
		s.sha256 = hex.EncodeToString(h.Sum(nil))
		if src.err != nil {
			return s, src.err
		}
		if !errors.Is(err, io.EOF) {
			s.decodeErr = err
		}
		return s, nil
	}

	bp, ok := readBufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, readBufSize)
		bp = &b
	}
	defer readBufs.Put(bp)
	buf := *bp
	var readErr error
	for {
		// Ask for at most one byte past the cap (written so that a cap
		// near MaxInt64 cannot overflow).
		want := int64(len(buf))
		if rest := limit - s.size; rest < want-1 {
			want = rest + 1
		}
		k, err := r.Read(buf[:want])
		if k > 0 {
			use := k
			if s.size+int64(k) > limit {
				use = int(limit - s.size)
				s.truncated = true
			}
			h.Write(buf[:use])
			if len(s.preview) < previewN {
				s.preview = append(s.preview, buf[:min(use, previewN-len(s.preview))]...)
			}
			s.size += int64(use)
			if s.truncated {
				break
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	s.sha256 = hex.EncodeToString(h.Sum(nil))
	if readErr != nil {
		if src.err != nil {
			return s, src.err
		}
		s.decodeErr = readErr
	}
	return s, nil
}

// decoder wraps r to undo the Content-Encoding when it is one the client
// can decode (gzip, deflate); any other encoding is read as it is and
// reported not decompressed. The transport's own transparent gzip is off
// (see New) so that the cap, the decoding and its errors are all handled
// here, whoever asked for the encoding.
func decoder(r io.Reader, contentEncoding string) (io.Reader, bool, error) {
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, true, err
		}
		return zr, true, nil
	case "deflate":
		// "deflate" means zlib-wrapped deflate (RFC 9110), but some
		// servers send raw deflate; the zlib header tells them apart.
		br := bufio.NewReaderSize(r, 64)
		hdr, err := br.Peek(2)
		if err != nil {
			if len(hdr) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, true, err
		}
		if hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, true, err
			}
			return zr, true, nil
		}
		return flate.NewReader(br), true, nil
	default:
		return r, false, nil
	}
}
