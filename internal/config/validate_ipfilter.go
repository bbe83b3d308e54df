package config

// ipFilter checks the global ip_filter: every entry is a CIDR or an
// address, and the list files can be read. Their contents are parsed when
// the gateway compiles the config (the list parser lives in internal/ipfilter).
func (v *validator) ipFilter(path string, f *IPFilter) {
	if len(f.Allow)+len(f.Deny) == 0 && f.AllowFile == "" && f.DenyFile == "" {
		v.add(path, "at least one of allow, deny, allow_file or deny_file is required")
		return
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"allow", f.Allow}, {"deny", f.Deny}} {
		for i, s := range l.list {
			p := indexPath(path+"."+l.name, i)
			v.addressEntry(p, s)
		}
	}
	if f.AllowFile != "" {
		v.readable(path+".allow_file", f.AllowFile)
	}
	if f.DenyFile != "" {
		v.readable(path+".deny_file", f.DenyFile)
	}
}
