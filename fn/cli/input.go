package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/rqlite/rqlite-krm/fn/api/v1alpha1"
)

// readInput reads a whole input, a file or stdin ("-"), up to v1alpha1.MaxInputBytes. Specs and
// ResourceLists are far smaller; the bound makes /dev/zero, a runaway pipe or a wrong file fail at
// once with a message instead of filling memory until the process dies.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	r, what := stdin, "stdin"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > v1alpha1.MaxInputBytes {
			return nil, tooLarge(name)
		}
		r, what = f, name
	}
	b, err := io.ReadAll(io.LimitReader(r, v1alpha1.MaxInputBytes+1))
	if err != nil && name == "-" {
		return nil, fmt.Errorf("reading stdin: %w", err)
	} else if err != nil {
		return nil, err // names the file already
	}
	if len(b) > v1alpha1.MaxInputBytes {
		return nil, tooLarge(what)
	}
	return b, nil
}

func tooLarge(what string) error {
	return fmt.Errorf("%s is larger than %s, the limit for one input (a spec is a few kilobytes; split a larger stream into several files)",
		what, v1alpha1.FormatBytes(v1alpha1.MaxInputBytes))
}

// document is one YAML document of a stream and the line of the stream it starts on.
type document struct {
	text []byte
	line int
}

// documents splits a YAML stream on document separators, skipping documents that hold nothing
// but blank lines and comments.
func documents(b []byte) []document {
	var docs []document
	start, line, first := 0, 1, 1
	flush := func(end int) {
		if d := b[start:end]; hasContent(d) {
			docs = append(docs, document{text: d, line: first})
		}
	}
	for pos := 0; pos < len(b); line++ {
		end := bytes.IndexByte(b[pos:], '\n')
		next := len(b)
		if end >= 0 {
			next = pos + end + 1
			end = pos + end
		} else {
			end = len(b)
		}
		if l := b[pos:end]; bytes.HasPrefix(l, []byte("---")) && len(bytes.TrimSpace(l[3:])) == 0 {
			flush(pos)
			start, first = next, line+1
		}
		pos = next
	}
	flush(len(b))
	return docs
}

// splitDocuments is documents without the line numbers.
func splitDocuments(b []byte) [][]byte {
	var out [][]byte
	for _, d := range documents(b) {
		out = append(out, d.text)
	}
	return out
}

func hasContent(d []byte) bool {
	for len(d) > 0 {
		l := d
		if i := bytes.IndexByte(d, '\n'); i >= 0 {
			l, d = d[:i], d[i+1:]
		} else {
			d = nil
		}
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}
