package xlsx

// Table sheets compressed while their rows are produced.
//
// The data rows of a table sheet (workbook_rows.go) do not wait for
// excelize's save: each sheet's zip part is compressed on its own goroutine
// while the builder reads and encodes the next rows, into its own scratch
// file. The part's bytes are exactly what excelize would write: the sheet's
// opening (XML header, sheet properties, views, columns and header row —
// known before the first data row, see sheetPrefix), the data rows, and the
// closing excelize writes at save time (auto-filter, print set-up), which
// sortedZip appends to the same compressor. One flate writer sees the whole
// part in order, so the compressed bytes are those of compressing the part
// in one go: the output does not depend on the goroutines' timing.
//
// Through excelize, a table sheet gets only its header row and, when it has
// data rows, one marker row 2 holding a unique text; sortedZip recognises
// the marker, checks that the bytes excelize wrote before it are the
// opening the part was compressed with, and writes the compressed part in
// the sheet's place. A marker that is not found, or an opening that differs,
// is an error, never a silently different sheet.
//
// Memory is bounded per sheet: at most pipeBuffers chunks of about
// pipeChunk bytes wait for the compressor (the encoder blocks when they are
// all in flight), plus the flate writer's state, which lives until the part
// is closed at save time.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"
)

const (
	// pipeChunk is the size of the chunks of encoded rows handed to a
	// part's compressor.
	pipeChunk = 64 << 10
	// pipeBuffers is how many chunks a part may have in flight.
	pipeBuffers = 3
)

// partPipe compresses one table sheet's zip part on its own goroutine.
type partPipe struct {
	enc       rowEncoder
	buf       []byte      // the chunk being filled
	allocated int         // chunks made
	in        chan []byte // chunks to compress
	free      chan []byte // compressed chunks, for reuse
	done      chan struct{}
	inClosed  bool
	failed    atomic.Pointer[error] // the compressor's error, for the encoder
	prefix    []byte                // the sheet's opening, as excelize writes it
	closing   []byte                // the sheet's closing, as excelize writes it (set by end)

	// Owned by the compressor goroutine until done is closed, then by the
	// zip writer.
	f            *os.File
	bw           *bufio.Writer
	fw           *flate.Writer
	crc          hash.Hash32
	uncompressed uint64
	size         int64 // compressed bytes
	err          error
}

// newPartPipe starts compressing a part that opens with prefix, into a new
// scratch file in dir.
func newPartPipe(dir string, prefix []byte) (*partPipe, error) {
	f, err := os.CreateTemp(dir, "part-*")
	if err != nil {
		return nil, fmt.Errorf("create part spool: %w", err)
	}
	p := &partPipe{
		in:     make(chan []byte, pipeBuffers),
		free:   make(chan []byte, pipeBuffers+2), // every chunk and the closing: never blocks
		done:   make(chan struct{}),
		prefix: prefix,
		f:      f,
		bw:     bufio.NewWriterSize(f, 64<<10),
		crc:    crc32.NewIEEE(),
	}
	// Level 1 (BestSpeed) of klauspost/compress's flate (see sortedZip.Create
	// for the measurements).
	if p.fw, err = flate.NewWriter(partCounter{p}, flate.BestSpeed); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, err
	}
	go p.compress()
	p.allocated = 1
	p.buf = append(make([]byte, 0, pipeChunk+pipeChunk/4), prefix...)
	return p, nil
}

// partCounter counts the compressed bytes written to the part's file.
type partCounter struct{ p *partPipe }

func (w partCounter) Write(b []byte) (int, error) {
	n, err := w.p.bw.Write(b)
	w.p.size += int64(n)
	return n, err
}

// compress is the part's compressor goroutine.
func (p *partPipe) compress() {
	defer close(p.done)
	for b := range p.in {
		if p.err == nil {
			p.write(b)
			if p.err != nil {
				err := p.err
				p.failed.Store(&err)
			}
		}
		p.free <- b
	}
	for len(p.free) > 0 { // the encoder is done with them
		<-p.free
	}
	if p.err == nil && p.closing != nil {
		if err := p.fw.Close(); err != nil {
			p.err = fmt.Errorf("write part spool: %w", err)
		} else if err := p.bw.Flush(); err != nil {
			p.err = fmt.Errorf("write part spool: %w", err)
		}
	}
	p.fw, p.bw = nil, nil // the part is complete: free the compressor
}

func (p *partPipe) write(b []byte) {
	p.crc.Write(b)
	p.uncompressed += uint64(len(b))
	if _, err := p.fw.Write(b); err != nil {
		p.err = fmt.Errorf("write part spool: %w", err)
	}
}

// row encodes row r (1-based) into the part.
func (p *partPipe) row(r int, cells []cell) error {
	p.buf = p.enc.appendRow(p.buf, r, cells)
	if len(p.buf) < pipeChunk {
		return nil
	}
	if err := p.failed.Load(); err != nil {
		return *err
	}
	p.in <- p.buf
	select {
	case b := <-p.free:
		p.buf = b[:0]
	default:
		if p.allocated < pipeBuffers+1 {
			p.allocated++
			p.buf = make([]byte, 0, pipeChunk+pipeChunk/4)
		} else {
			p.buf = (<-p.free)[:0]
		}
	}
	return nil
}

// end hands the last rows and the sheet's closing (nil when the part is
// abandoned) to the compressor, which completes the part in the background.
func (p *partPipe) end(closing []byte) {
	if p.inClosed {
		return
	}
	if closing != nil {
		p.closing = closing
		if len(p.buf) > 0 {
			p.in <- p.buf
		}
		p.in <- closing
	}
	p.buf = nil
	p.inClosed = true
	close(p.in)
}

// wait waits for the compressor to complete the part.
func (p *partPipe) wait() error {
	if !p.inClosed {
		return errors.New("write part spool: part not ended")
	}
	<-p.done
	return p.err
}

// cleanup stops the compressor and removes the part's file.
func (p *partPipe) cleanup() {
	p.end(nil)
	<-p.done
	_ = p.f.Close()
	_ = os.Remove(p.f.Name())
}

// partSet is the builder's compressed table parts, by the marker row
// standing for each in its sheet.
type partSet struct {
	dir   string
	nonce string
	pipes map[string]*partPipe // by marker row; the builder's goroutine only
	mu    sync.Mutex           // guards all: the detail sheets start parts concurrently
	all   []*partPipe
}

func newPartSet(dir string) (*partSet, error) {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("rows marker: %w", err)
	}
	return &partSet{dir: dir, nonce: hex.EncodeToString(nonce[:]), pipes: make(map[string]*partPipe)}, nil
}

// start starts a part opening with prefix.
func (s *partSet) start(prefix []byte) (*partPipe, error) {
	p, err := newPartPipe(s.dir, prefix)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.all = append(s.all, p)
	s.mu.Unlock()
	return p, nil
}

// marker returns the text of the marker row standing for p in its sheet.
func (s *partSet) marker(p *partPipe) string {
	text := "reconcile-rows-" + s.nonce + "-" + fmt.Sprintf("%06d", len(s.pipes)+1)
	s.pipes[markerRow(text)] = p
	return text
}

// markerPrefix is what every marker row of this set starts with.
func (s *partSet) markerPrefix() string {
	return `<row r="2"><c r="A2" t="inlineStr"><is><t>reconcile-rows-` + s.nonce + "-"
}

// markerRow is the XML excelize writes for row 2 holding only text in A2.
func markerRow(text string) string {
	return `<row r="2"><c r="A2" t="inlineStr"><is><t>` + text + `</t></is></c></row>`
}

func (s *partSet) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.all {
		p.cleanup()
	}
}

// openSheet creates sheet in f with its table set-up and header row, and
// returns its stream writer. sheetPrefix makes the same calls.
func openSheet(f *excelize.File, sheet string, widths []float64, header []any) (*excelize.StreamWriter, error) {
	if _, err := f.NewSheet(sheet); err != nil {
		return nil, fmt.Errorf("create sheet %q: %w", sheet, err)
	}
	// The sheet properties are written when the stream writer is created.
	if err := f.SetSheetProps(sheet, &excelize.SheetPropsOptions{FitToPage: ptr(true)}); err != nil {
		return nil, fmt.Errorf("sheet %q: fit to page: %w", sheet, err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return nil, fmt.Errorf("stream sheet %q: %w", sheet, err)
	}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return nil, fmt.Errorf("sheet %q: column width: %w", sheet, err)
		}
	}
	if err := sw.SetPanes(frozenHeader()); err != nil {
		return nil, fmt.Errorf("sheet %q: freeze header: %w", sheet, err)
	}
	if err := sw.SetRow("A1", header); err != nil {
		return nil, fmt.Errorf("sheet %q: header: %w", sheet, err)
	}
	return sw, nil
}

// sheetProbe returns the bytes excelize writes for a table sheet before
// its data rows (opening) and after them (closing): it opens the same sheet
// in a throwaway file, marks row 2, closes the sheet with closing (nil: only
// flush it) and saves the file. sortedZip checks the real sheet's bytes
// against them.
func sheetProbe(widths []float64, header []any, closing func(*excelize.File, *excelize.StreamWriter, string) error) (opening, closed []byte, err error) {
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	const sheet = "Probe"
	sw, err := openSheet(f, sheet, widths, header)
	if err != nil {
		return nil, nil, err
	}
	const text = "reconcile-probe"
	if err := sw.SetRow("A2", []any{text}); err != nil {
		return nil, nil, err
	}
	if closing == nil {
		err = sw.Flush()
	} else {
		err = closing(f, sw, sheet)
	}
	if err != nil {
		return nil, nil, err
	}
	parts := &captureZip{parts: make(map[string]*bytes.Buffer)}
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return parts })
	if _, err := f.WriteTo(io.Discard); err != nil {
		return nil, nil, err
	}
	marker := []byte(markerRow(text))
	for _, b := range parts.parts {
		if i := bytes.Index(b.Bytes(), marker); i >= 0 {
			return bytes.Clone(b.Bytes()[:i]), bytes.Clone(b.Bytes()[i+len(marker):]), nil
		}
	}
	return nil, nil, errors.New("sheet probe: marker row not found in the probe workbook")
}

// captureZip keeps the parts of a (small) workbook in memory.
type captureZip struct{ parts map[string]*bytes.Buffer }

func (z *captureZip) Create(name string) (io.Writer, error) {
	b := new(bytes.Buffer)
	z.parts[name] = b
	return b, nil
}

func (z *captureZip) AddFS(fs.FS) error { return errors.New("zip: AddFS is not supported") }
func (z *captureZip) Close() error      { return nil }
