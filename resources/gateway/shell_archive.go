package main

// berth-shell's load: the image archive is spooled to <berthDir>/tmp/, its tags are read with archive/tar, and
// it is refused BEFORE docker sees it unless every tag is berth/<model>:<tag> of a model in the member's scope.
// (The script loaded first and untagged after: by then an unrelated tag such as ubuntu:latest was overwritten.)

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// archiveMetaFiles are the files of a `docker save` archive that name images; each must be a plain file.
var archiveMetaFiles = map[string]bool{"manifest.json": true, "index.json": true, "repositories": true}

// compressedMagic: docker load decompresses these, so their bytes are not the tar read here.
var compressedMagic = [][]byte{{0x1f, 0x8b}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0x28, 0xb5, 0x2f, 0xfd}}

func (s *shellSession) load() error {
	if err := s.noArgs("load (image archive on stdin)"); err != nil {
		return err
	}
	tmp, err := s.spool()
	if err != nil {
		return failed(1, "load: cannot keep the archive: %v", err)
	}
	defer os.Remove(tmp)
	stop := removeOnSignal(tmp)
	defer stop()
	tags, err := archiveTags(tmp)
	if err != nil {
		return refused("load: refused before loading: %v", err)
	}
	if err := s.checkLoadTags(tags); err != nil {
		return err
	}
	return s.docker("load", "-i", tmp)
}

// spool copies stdin to a new file under <berthDir>/tmp/.
func (s *shellSession) spool() (string, error) {
	dir := filepath.Join(s.env.berthDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "load-*.tar")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, s.env.stdin)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// removeOnSignal removes path if the session is hung up or killed before it ends.
func removeOnSignal(path string) (stop func()) {
	signals := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	go func() {
		select {
		case sig := <-signals:
			os.Remove(path)
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() { signal.Stop(signals); close(done) }
}

func (s *shellSession) checkLoadTags(tags []string) error {
	var bad []string
	for _, tag := range tags {
		if !matches(imageRE, tag) {
			bad = append(bad, tag)
		}
	}
	if len(bad) > 0 {
		return refused("role %s may only load images named berth/<model>:<version>; refused before loading: %s", roleName(s.role), strings.Join(bad, " "))
	}
	for _, tag := range tags {
		if err := s.who.need(roleDeployer, imageModel(tag), "load "+tag); err != nil {
			return err
		}
	}
	return nil
}

// archiveTags are the tags `docker load` would give the archive's images: manifest.json's RepoTags, and the
// image names of index.json (an OCI layout). The archive must be the plain tar of `docker save`.
func archiveTags(file string) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	for _, magic := range compressedMagic {
		if bytes.HasPrefix(head[:n], magic) {
			return nil, errors.New("the archive is compressed; send the plain tar of docker save")
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	meta, err := readArchiveMeta(tar.NewReader(f))
	if err != nil {
		return nil, err
	}
	return metaTags(meta)
}

// readArchiveMeta reads the image-naming files; it refuses a name reached through a link.
func readArchiveMeta(r *tar.Reader) (map[string][]byte, error) {
	meta := map[string][]byte{}
	links := map[string]bool{}
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("stdin is not a docker save archive (%v)", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		names = append(names, name)
		if h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink {
			links[name] = true
		}
		if !archiveMetaFiles[name] {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("the archive's %s is not a plain file", name)
		}
		if _, twice := meta[name]; twice {
			return nil, fmt.Errorf("the archive holds %s twice", name)
		}
		if meta[name], err = io.ReadAll(io.LimitReader(r, 16<<20)); err != nil {
			return nil, fmt.Errorf("stdin is not a docker save archive (%v)", err)
		}
	}
	return meta, underLink(names, links)
}

// underLink refuses an entry inside a linked folder: extracting it could write the archive's manifest.json.
func underLink(names []string, links map[string]bool) error {
	for _, name := range names {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if links[dir] {
				return fmt.Errorf("the archive's %s lies inside the link %s", name, dir)
			}
		}
	}
	return nil
}

func metaTags(meta map[string][]byte) ([]string, error) {
	manifest, ok := meta["manifest.json"]
	if !ok {
		return nil, errors.New("the archive has no manifest.json (not made by docker save)")
	}
	var images []struct{ RepoTags []string }
	if err := json.Unmarshal(manifest, &images); err != nil {
		return nil, fmt.Errorf("the archive's manifest.json is not docker save's (%v)", err)
	}
	var tags []string
	for _, image := range images {
		tags = append(tags, image.RepoTags...)
	}
	if index, ok := meta["index.json"]; ok {
		named, err := indexTags(index)
		if err != nil {
			return nil, err
		}
		tags = append(tags, named...)
	}
	if repositories, ok := meta["repositories"]; ok {
		named, err := repositoriesTags(repositories)
		if err != nil {
			return nil, err
		}
		tags = append(tags, named...)
	}
	return uniqueSorted(tags), nil
}

// repositoriesTags are the names of the legacy repositories file: {"<name>": {"<tag>": "<id>"}}.
func repositoriesTags(data []byte) ([]string, error) {
	var repositories map[string]map[string]string
	if err := json.Unmarshal(data, &repositories); err != nil {
		return nil, fmt.Errorf("the archive's repositories file is not docker save's (%v)", err)
	}
	var tags []string
	for name, byTag := range repositories {
		for tag := range byTag {
			tags = append(tags, name+":"+tag)
		}
	}
	return tags, nil
}

// indexTags are the full image names the OCI index annotates (a bare ref.name tag names nothing by itself).
func indexTags(index []byte) ([]string, error) {
	var idx struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(index, &idx); err != nil {
		return nil, fmt.Errorf("the archive's index.json is not an OCI index (%v)", err)
	}
	var tags []string
	for _, m := range idx.Manifests {
		for _, key := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
			name, ok := m.Annotations[key]
			if !ok || (key != "io.containerd.image.name" && !strings.ContainsAny(name, "/:@")) {
				continue
			}
			tags = append(tags, strings.TrimPrefix(name, "docker.io/"))
		}
	}
	return tags, nil
}

func uniqueSorted(list []string) []string {
	sort.Strings(list)
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}
