package images

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// listSaved reads a `docker save` archive (one image) and lists its layers' entries in order.
func listSaved(archive []byte) ([]Entry, error) {
	blobs := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		blobs[h.Name] = b
	}
	var manifest []struct {
		Layers []string `json:"Layers"`
	}
	if err := json.Unmarshal(blobs["manifest.json"], &manifest); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if len(manifest) != 1 {
		return nil, fmt.Errorf("manifest.json lists %d images, want 1", len(manifest))
	}
	var out []Entry
	for _, l := range manifest[0].Layers {
		layer, ok := blobs[l]
		if !ok {
			return nil, fmt.Errorf("layer %s is missing from the archive", l)
		}
		lr := tar.NewReader(bytes.NewReader(layer))
		for {
			h, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("layer %s: %w", l, err)
			}
			out = append(out, Entry{
				Path: strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/"),
				Mode: h.FileInfo().Mode(),
				UID:  h.Uid, GID: h.Gid, Size: h.Size, Link: h.Linkname,
			})
		}
	}
	return out, nil
}
