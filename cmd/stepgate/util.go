package main

import (
	"errors"
	"path/filepath"
	"strings"
)

// relTo returns p relative to dir when p lies inside dir.
func relTo(dir, p string) (string, error) {
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", errors.New("outside")
	}
	return rel, nil
}
