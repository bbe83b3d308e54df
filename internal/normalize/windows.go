package normalize

import "strings"

// WindowsAmbiguity reports why a canonical path would name, to an upstream
// that maps paths onto Windows file names (IIS, ASP.NET or Tomcat on
// Windows, any file server there), something other than the segments the
// router matched; "" when it would not. Windows rewrites a name before it
// opens it, so each of these reaches a file under another name:
//
//   - a segment ending in a dot or a space: Win32 drops them, so
//     "/admin./report" and "/admin%20/report" open "/admin/report" while
//     the router matched neither "/admin" nor its route;
//   - a colon, raw or "%3A": "report::$DATA" opens the file's data stream
//     (the classic way to read a script's source instead of running it),
//     "c:" names a drive;
//   - a tilde followed by a digit: "ADMINI~1" is the 8.3 short name of
//     "administration", a second name for every long one;
//   - a character Windows forbids in a file name (< > " | ? *, raw or
//     escaped): "<", ">" and '"' are wildcards to the file system's own
//     matching (the tools that scan for short names use them), and none can
//     be part of a real file's name.
//
// Letter case is the remaining difference, and it is not refused: the
// routes to such a service match paths with case folded (router.FoldCase).
func WindowsAmbiguity(canonical string) string {
	for seg := range strings.SplitSeq(canonical, "/") {
		if why := windowsSegment(seg); why != "" {
			return why
		}
	}
	return ""
}

func windowsSegment(seg string) string {
	if seg == "" {
		return ""
	}
	if seg[len(seg)-1] == '.' {
		return "a segment ends in a dot (Windows drops it)"
	}
	if strings.HasSuffix(seg, "%20") {
		return "a segment ends in a space (Windows drops it)"
	}
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; c {
		case ':':
			return "a colon (a Windows stream or drive)"
		case '*', '|', '<', '>', '"':
			return "a character Windows forbids in a file name"
		case '~':
			if i+1 < len(seg) && '0' <= seg[i+1] && seg[i+1] <= '9' {
				return "a Windows short name (~ and a digit)"
			}
		case '%':
			if i+2 < len(seg) {
				switch seg[i+1 : i+3] {
				case "3A":
					return "a colon (a Windows stream or drive)"
				case "2A", "7C", "3C", "3E", "22", "3F":
					return "a character Windows forbids in a file name"
				}
			}
		}
	}
	return ""
}
