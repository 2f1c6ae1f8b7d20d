package main

// berth-shell's read-only image verbs: what the app asks before it sends an image (docker load is `load`).

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Variables, so tests can make them small.
var (
	// maxLayerLines bounds the inventory: more layer lists only means more layers are sent again.
	maxLayerLines = 20000
	// inspectBatch keeps one docker image inspect's argv well below the kernel's limit.
	inspectBatch = 1000
)

// imageIDOf is the {{.Id}} of an image; docker's errors (no such image) are no answer.
func (s *shellSession) imageIDOf(ref string) (string, bool) {
	out, err := s.dockerOutput(io.Discard, "image", "inspect", "--format", "{{.Id}}", "--", ref)
	id := strings.TrimSpace(string(out))
	if err != nil || id == "" {
		return "", false
	}
	return id, true
}

// imageID prints the id of an image, or nothing (exit 1) when there is none.
func (s *shellSession) imageID() error {
	if len(s.args) != 1 {
		return invalid("usage: image-id <berth/model:version|sha256:id>")
	}
	ref := s.args[0]
	if !matches(imageRE, ref) && !matches(imageIDRE, ref) {
		return invalid("invalid image '%s' (must match %s or %s)", clip(ref, 80), imageRE, imageIDRE)
	}
	id, ok := s.imageIDOf(ref)
	if !ok {
		return exitStatus(1)
	}
	fmt.Fprintln(s.env.stdout, id)
	return nil
}

// imageInventory prints, one key=value a line, what the app's parseInventory reads: the id ref names, whether
// the image id is here, the storage driver and the layer lists of every image. No gzip= line: load takes only
// plain tar. Zero images is fine; only a failing docker image ls is an error.
func (s *shellSession) imageInventory() error {
	if len(s.args) != 2 {
		return invalid("usage: image-inventory <berth/model:version> <sha256:id>")
	}
	ref, id := s.args[0], s.args[1]
	if err := check(ref, imageRE, "image"); err != nil {
		return err
	}
	if err := check(id, imageIDRE, "image id"); err != nil {
		return err
	}
	listed, err := s.dockerOutput(s.env.stderr, "image", "ls", "-aq", "--no-trunc")
	if err != nil {
		return err
	}
	refID, _ := s.imageIDOf(ref)
	fmt.Fprintf(s.env.stdout, "ref=%s\n", refID)
	if _, ok := s.imageIDOf(id); ok {
		fmt.Fprintln(s.env.stdout, "has-id=yes")
	}
	driver, _ := s.dockerOutput(io.Discard, "info", "--format", "{{json .DriverStatus}}")
	fmt.Fprintf(s.env.stdout, "driver=%s\n", strings.TrimSpace(string(driver)))
	for _, line := range s.layerLines(strings.Fields(string(listed))) {
		fmt.Fprintln(s.env.stdout, line)
	}
	return nil
}

// layerLines is `layers=<json of .RootFS.Layers>` of the images, sorted and unique, at most maxLayerLines; an
// image removed meanwhile is left out.
func (s *shellSession) layerLines(ids []string) []string {
	ids = sortedUnique(ids)
	var lines []string
	for start := 0; start < len(ids); start += inspectBatch {
		end := start + inspectBatch
		if end > len(ids) {
			end = len(ids)
		}
		args := append([]string{"image", "inspect", "--format", "layers={{json .RootFS.Layers}}", "--"}, ids[start:end]...)
		out, _ := s.dockerOutput(io.Discard, args...)
		lines = append(lines, strings.Split(string(out), "\n")...)
	}
	lines = sortedUnique(lines)
	if len(lines) > maxLayerLines {
		lines = lines[:maxLayerLines]
	}
	return lines
}

// sortedUnique is `sort -u` in the C locale, without empty lines.
func sortedUnique(words []string) []string {
	sort.Strings(words)
	var out []string
	for _, w := range words {
		if w != "" && (len(out) == 0 || w != out[len(out)-1]) {
			out = append(out, w)
		}
	}
	return out
}
