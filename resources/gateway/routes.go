package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"
)

// routesFile is routes.json as Berth writes it (see docs/ARCHITECTURE.md). Unknown fields are ignored so Berth
// can add fields before every gateway understands them.
type routesFile struct {
	Revision int64                `json:"revision"`
	Models   map[string]modelFile `json:"models"`
	Keys     []keyFile            `json:"keys"`
	// HTTPSOnly: every group of this server serves HTTPS only, so every plain-HTTP request is refused.
	HTTPSOnly bool `json:"httpsOnly,omitempty"`
}

type modelFile struct {
	Public   bool                   `json:"public"`
	Versions map[string]versionFile `json:"versions"`
	Aliases  map[string]string      `json:"aliases"`
	// HTTPSOnly: the model's group serves HTTPS only (on a server it shares with a group that still allows HTTP).
	HTTPSOnly bool `json:"httpsOnly,omitempty"`
}

type versionFile struct {
	Replicas []string `json:"replicas"`
}

type keyFile struct {
	ID        string              `json:"id"`
	SHA256    string              `json:"sha256"`
	Models    []string            `json:"models"`   // null: every model
	Versions  map[string][]string `json:"versions"` // null, or no entry for a model: every version of it
	ExpiresAt *string             `json:"expiresAt"`
}

// table is one immutable, compiled routes.json. Requests load it once and finish on it, so a reload never
// changes the routing of a request in flight.
type table struct {
	revision  int64
	httpsOnly bool
	models    map[string]*model
	keys      []*apiKey
	replicas  []*replica // every distinct replica, for the health checker
}

type model struct {
	name      string
	public    bool
	httpsOnly bool
	versions  map[string]*version
	aliases   map[string]*alias
	// The 404 body naming the versions and aliases that exist, built once per reload.
	notFound []byte
}

type version struct {
	name     string
	header   []string // {name}: shared as a header value, never appended to
	replicas []*replica
	next     uint32 // round-robin cursor (atomic)
}

type alias struct {
	target *version
	header []string
}

type apiKey struct {
	id        string
	header    []string
	sum       [32]byte
	allModels bool
	models    map[string]bool
	versions  map[string]map[string]bool // model -> allowed versions; a missing model means all versions
	expires   time.Time                  // zero: never
}

func (k *apiKey) allowsModel(m string) bool { return k.allModels || k.models[m] }

func (k *apiKey) allowsVersion(m, v string) bool {
	allowed, limited := k.versions[m]
	return !limited || allowed[v]
}

var emptyTable = &table{models: map[string]*model{}}

// compileRoutes parses and checks a whole routes.json; any error rejects the file so the previous table stays.
// standIns (agent.json's, model → version → addresses) join the replicas of versions routes.json has; stand-ins
// for other models or versions are ignored, since routes.json alone says what exists.
func compileRoutes(data []byte, standIns map[string]map[string][]string, replicas *replicaSet) (*table, error) {
	var f routesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not valid routes JSON: %w", err)
	}
	t := &table{revision: f.Revision, httpsOnly: f.HTTPSOnly, models: make(map[string]*model, len(f.Models))}
	seen := map[*replica]bool{}
	for name, mf := range f.Models {
		if !validSegment(name) || strings.HasPrefix(name, "_") {
			return nil, fmt.Errorf("model name %q is not a single URL path segment", name)
		}
		m := &model{name: name, public: mf.Public, httpsOnly: mf.HTTPSOnly, versions: map[string]*version{}, aliases: map[string]*alias{}}
		for vname, vf := range mf.Versions {
			if !validSegment(vname) {
				return nil, fmt.Errorf("model %q: version %q is not a valid version name", name, vname)
			}
			v := &version{name: vname, header: []string{vname}}
			for _, addr := range withStandIns(vf.Replicas, standIns[name][vname]) {
				if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
					return nil, fmt.Errorf("model %q version %q: replica %q is not host:port", name, vname, addr)
				}
				r := replicas.get(addr)
				v.replicas = append(v.replicas, r)
				if !seen[r] {
					seen[r] = true
					t.replicas = append(t.replicas, r)
				}
			}
			m.versions[vname] = v
		}
		for aname, target := range mf.Aliases {
			if !validSegment(aname) {
				return nil, fmt.Errorf("model %q: alias %q is not a single URL path segment", name, aname)
			}
			v := m.versions[target]
			if v == nil {
				return nil, fmt.Errorf("model %q: alias %q names version %q, which is not among its versions", name, aname, target)
			}
			m.aliases[aname] = &alias{target: v, header: []string{aname}}
		}
		m.notFound = notFoundBody(m)
		t.models[name] = m
	}
	for i, kf := range f.Keys {
		k, err := compileKey(kf)
		if err != nil {
			return nil, fmt.Errorf("key %d (%q): %w", i, kf.ID, err)
		}
		t.keys = append(t.keys, k)
	}
	return t, nil
}

// withStandIns appends the stand-ins that are not already among the replicas.
func withStandIns(replicas, standIns []string) []string {
	all := replicas
	for _, addr := range standIns {
		if !contains(replicas, addr) {
			all = append(all, addr)
		}
	}
	return all
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func compileKey(kf keyFile) (*apiKey, error) {
	if kf.ID == "" {
		return nil, fmt.Errorf("id is missing")
	}
	raw, err := hex.DecodeString(kf.SHA256)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("sha256 must be 64 hex digits")
	}
	k := &apiKey{id: kf.ID, header: []string{kf.ID}, allModels: kf.Models == nil}
	copy(k.sum[:], raw)
	if !k.allModels {
		k.models = make(map[string]bool, len(kf.Models))
		for _, m := range kf.Models {
			k.models[m] = true
		}
	}
	if kf.Versions != nil {
		k.versions = make(map[string]map[string]bool, len(kf.Versions))
		for m, vs := range kf.Versions {
			if vs == nil {
				continue // null: every version of this model
			}
			set := make(map[string]bool, len(vs))
			for _, v := range vs {
				set[v] = true
			}
			k.versions[m] = set
		}
	}
	if kf.ExpiresAt != nil && *kf.ExpiresAt != "" {
		at, err := time.Parse(time.RFC3339, *kf.ExpiresAt)
		if err != nil {
			return nil, fmt.Errorf("expiresAt %q is not an RFC 3339 time", *kf.ExpiresAt)
		}
		k.expires = at
	}
	return k, nil
}

// validSegment: non-empty, no slash, no characters that would need escaping in a path.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func notFoundBody(m *model) []byte {
	versions := make([]string, 0, len(m.versions))
	for v := range m.versions {
		versions = append(versions, v)
	}
	sortVersions(versions)
	aliases := make(map[string]string, len(m.aliases))
	names := make([]string, 0, len(m.aliases))
	for a, t := range m.aliases {
		aliases[a] = t.target.name
		names = append(names, a)
	}
	sort.Strings(names)
	var msg strings.Builder
	fmt.Fprintf(&msg, "Model %q has no such version or alias. Call /%s/v<n>/<path> or /%s/<alias>/<path>. Versions: ", m.name, m.name, m.name)
	if len(versions) == 0 {
		msg.WriteString("none")
	}
	for i, v := range versions {
		if i > 0 {
			msg.WriteString(", ")
		}
		msg.WriteString("v" + v)
	}
	msg.WriteString(". Aliases: ")
	if len(names) == 0 {
		msg.WriteString("none")
	}
	for i, a := range names {
		if i > 0 {
			msg.WriteString(", ")
		}
		fmt.Fprintf(&msg, "%s → v%s", a, aliases[a])
	}
	msg.WriteString(".")
	return errorBody("NotFound", msg.String(), map[string]any{"model": m.name, "versions": versions, "aliases": aliases})
}

// sortVersions orders numerically when both names are numbers ("2" < "10"), else as text.
func sortVersions(vs []string) {
	sort.Slice(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if isDigits(a) && isDigits(b) && len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	})
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
