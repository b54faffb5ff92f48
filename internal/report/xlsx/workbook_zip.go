package xlsx

import (
	"archive/zip"
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/compress/flate"
)

// sortedZip is the excelize.ZipWriter of the workbook. excelize adds its
// streamed sheets in Go map order, which would make the file's bytes differ
// between runs; sortedZip compresses every part into one spool file in the
// scratch directory and, on Close, writes the zip to dst with the parts
// sorted by name ("[Content_Types].xml", "_rels/…", "docProps/…", "xl/…"),
// copying the compressed bytes as they are.
//
// It writes to dst, not to the buffer excelize hands to the ZipWriter
// factory: excelize would build the whole zip in memory before writing it.
type sortedZip struct {
	dst     io.Writer
	dir     string
	spool   *os.File
	bw      *bufio.Writer
	off     int64 // bytes written to the spool
	fw      *flate.Writer
	entries []spoolEntry
	cur     *spoolEntry
	crc     hash.Hash32
	err     error
	closed  bool

	// Table parts compressed while their rows were produced
	// (workbook_parts.go).
	parts   *partSet
	prefix  []byte          // what every marker row starts with
	scan    bool            // the current part is scanned for a marker row
	carry   []byte          // bytes of the current part held back while scanning
	emitted bool            // bytes of the current part went to the spool
	pipe    *partPipe       // the current part is this compressed part
	used    map[string]bool // marker rows found
}

type spoolEntry struct {
	name         string
	src          *os.File // the spool, or a compressed table part's file
	off, size    int64    // compressed bytes in src
	uncompressed uint64
	crc          uint32
}

func newSortedZip(dst io.Writer, dir string) *sortedZip {
	return &sortedZip{dst: dst, dir: dir, crc: crc32.NewIEEE()}
}

// spoolWriter appends compressed bytes to the spool, counting them.
type spoolWriter struct{ z *sortedZip }

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.z.bw.Write(p)
	w.z.off += int64(n)
	return n, err
}

// Create starts a new part.
func (z *sortedZip) Create(name string) (io.Writer, error) {
	if z.err != nil {
		return nil, z.err
	}
	if z.closed {
		return nil, errors.New("zip: create after close")
	}
	if err := z.endEntry(); err != nil {
		return nil, err
	}
	if z.spool == nil {
		f, err := os.CreateTemp(z.dir, "zip-spool-*")
		if err != nil {
			z.err = fmt.Errorf("create zip spool: %w", err)
			return nil, z.err
		}
		z.spool, z.bw = f, bufio.NewWriterSize(f, 256<<10)
		// Every part is deflated at BestSpeed (level 1), here and in the
		// table parts (workbook_parts.go), with klauspost/compress's flate
		// rather than compress/flate: on a 274 MB Payable sheet XML,
		// compress/flate BestSpeed ran at 317 MB/s into 34.55 MB,
		// klauspost level 1 at 526 MB/s into 33.63 MB (1.66x faster,
		// 2.7% smaller); BenchmarkWorkbookPayable (100k rows) went from
		// 9.07 MB to 8.56 MB per file. (compress/flate BestSpeed itself was
		// about 30% faster for the whole workbook than archive/zip's
		// level 5, for an about 18% larger file.) The output stays
		// deterministic: the same input and library version give the same
		// bytes, whatever the sizes of the writes (a new version of the
		// library may change them: make golden).
		if z.fw, err = flate.NewWriter(spoolWriter{z}, flate.BestSpeed); err != nil {
			z.err = err
			return nil, err
		}
	} else {
		z.fw.Reset(spoolWriter{z})
	}
	z.crc.Reset()
	z.cur = &spoolEntry{name: name, src: z.spool, off: z.off}
	z.scan = z.parts != nil && len(z.parts.pipes) > 0 && strings.HasPrefix(name, "xl/worksheets/")
	z.carry = z.carry[:0]
	z.emitted = false
	z.pipe = nil
	return entryWriter{z}, nil
}

// splice makes the zip write the compressed table parts of parts in place
// of the sheets holding their marker rows.
func (z *sortedZip) splice(parts *partSet) {
	z.parts = parts
	z.prefix = []byte(parts.markerPrefix())
	z.used = make(map[string]bool)
}

type entryWriter struct{ z *sortedZip }

func (w entryWriter) Write(p []byte) (int, error) {
	z := w.z
	if z.err != nil {
		return 0, z.err
	}
	if z.cur == nil {
		return 0, errors.New("zip: write to a closed part")
	}
	if z.pipe != nil {
		z.carry = append(z.carry, p...)
		if len(z.carry) > maxHeld {
			z.err = fmt.Errorf("zip: part %s: more than %d bytes after the rows", z.cur.name, maxHeld)
			return 0, z.err
		}
		return len(p), nil
	}
	if z.scan {
		if err := z.scanWrite(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return z.write(p)
}

// maxMarkerRow bounds the length of a marker row.
const maxMarkerRow = 256

// maxHeld bounds the bytes of a sheet held back while looking for its
// marker row (a table sheet's opening is a few kilobytes), and the bytes
// after the marker row (the sheet's closing).
const maxHeld = 1 << 20

// scanWrite looks for a marker row in the current part. The bytes before it
// are held back (up to maxHeld): when a marker row is found, they must be
// the opening its compressed part started with, and the part becomes that
// compressed part. A part without a marker row is compressed here.
func (z *sortedZip) scanWrite(p []byte) error {
	z.carry = append(z.carry, p...)
	i := bytes.Index(z.carry, z.prefix)
	if i < 0 {
		if len(z.carry) > maxHeld {
			keep := len(z.prefix) - 1
			if err := z.emit(z.carry[:len(z.carry)-keep]); err != nil {
				return err
			}
			z.emitted = true
			z.carry = append(z.carry[:0], z.carry[len(z.carry)-keep:]...)
		}
		return nil
	}
	end := bytes.Index(z.carry[i:], []byte("</row>"))
	if end < 0 {
		if len(z.carry)-i > maxMarkerRow {
			z.err = fmt.Errorf("zip: part %s: malformed rows marker", z.cur.name)
			return z.err
		}
		return nil
	}
	end += i + len("</row>")
	marker := string(z.carry[i:end])
	pipe, ok := z.parts.pipes[marker]
	if !ok || z.used[marker] {
		z.err = fmt.Errorf("zip: part %s: unknown or repeated rows marker", z.cur.name)
		return z.err
	}
	z.used[marker] = true
	if z.emitted || !bytes.Equal(z.carry[:i], pipe.prefix) {
		z.err = fmt.Errorf("zip: part %s: the sheet's opening differs from the one its rows were compressed with", z.cur.name)
		return z.err
	}
	if err := pipe.wait(); err != nil {
		z.err = err
		return z.err
	}
	z.pipe = pipe
	z.scan = false
	z.carry = append(z.carry[:0], z.carry[end:]...)
	return nil
}

func (z *sortedZip) emit(p []byte) error {
	_, err := z.write(p)
	return err
}

// write compresses p into the current part.
func (z *sortedZip) write(p []byte) (int, error) {
	z.crc.Write(p)
	z.cur.uncompressed += uint64(len(p))
	n, err := z.fw.Write(p)
	if err != nil {
		z.err = fmt.Errorf("write zip spool: %w", err)
	}
	return n, z.err
}

func (z *sortedZip) endEntry() error {
	if z.cur == nil {
		return nil
	}
	if z.pipe != nil {
		if !bytes.Equal(z.carry, z.pipe.closing) {
			z.err = fmt.Errorf("zip: part %s: the sheet's closing differs from the one its part was completed with", z.cur.name)
			return z.err
		}
		z.carry = z.carry[:0]
		z.cur.src, z.cur.off, z.cur.size = z.pipe.f, 0, z.pipe.size
		z.cur.crc, z.cur.uncompressed = z.pipe.crc.Sum32(), z.pipe.uncompressed
		z.entries = append(z.entries, *z.cur)
		z.cur, z.pipe = nil, nil
		return nil
	}
	if z.scan && len(z.carry) > 0 {
		if err := z.emit(z.carry); err != nil {
			return err
		}
		z.carry = z.carry[:0]
	}
	if err := z.fw.Close(); err != nil {
		z.err = fmt.Errorf("write zip spool: %w", err)
		return z.err
	}
	z.cur.size = z.off - z.cur.off
	z.cur.crc = z.crc.Sum32()
	z.entries = append(z.entries, *z.cur)
	z.cur = nil
	return nil
}

// AddFS is not used by excelize's save path.
func (z *sortedZip) AddFS(fs.FS) error {
	return errors.New("zip: AddFS is not supported")
}

// Close writes the sorted zip to dst.
func (z *sortedZip) Close() error {
	if z.closed {
		return z.err
	}
	z.closed = true
	if z.err != nil {
		return z.err
	}
	if err := z.endEntry(); err != nil {
		return err
	}
	if z.parts != nil && len(z.used) != len(z.parts.pipes) {
		z.err = fmt.Errorf("zip: %d of %d compressed table parts were not written into their sheets", len(z.parts.pipes)-len(z.used), len(z.parts.pipes))
		return z.err
	}
	if z.bw != nil {
		if err := z.bw.Flush(); err != nil {
			z.err = fmt.Errorf("write zip spool: %w", err)
			return z.err
		}
	}
	slices.SortFunc(z.entries, func(a, b spoolEntry) int { return cmp.Compare(a.name, b.name) })
	for i := 1; i < len(z.entries); i++ {
		if z.entries[i].name == z.entries[i-1].name {
			z.err = fmt.Errorf("zip: duplicate part %q", z.entries[i].name)
			return z.err
		}
	}
	zw := zip.NewWriter(z.dst)
	for _, e := range z.entries {
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name:               e.name,
			Method:             zip.Deflate,
			CRC32:              e.crc,
			CompressedSize64:   uint64(e.size),
			UncompressedSize64: e.uncompressed,
		})
		if err != nil {
			z.err = fmt.Errorf("write zip part %s: %w", e.name, err)
			return z.err
		}
		if _, err := io.Copy(w, io.NewSectionReader(e.src, e.off, e.size)); err != nil {
			z.err = fmt.Errorf("write zip part %s: %w", e.name, err)
			return z.err
		}
	}
	if err := zw.Close(); err != nil {
		z.err = fmt.Errorf("write zip: %w", err)
		return z.err
	}
	return nil
}

// cleanup closes and removes the spool file.
func (z *sortedZip) cleanup() {
	if z.spool != nil {
		_ = z.spool.Close()
		_ = os.Remove(z.spool.Name())
		z.spool = nil
	}
}
