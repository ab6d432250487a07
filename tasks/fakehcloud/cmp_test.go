package fakehcloud

import "github.com/google/go-cmp/cmp"

func gocmpAllowUnexported() cmp.Option { return cmp.AllowUnexported(Fault{}) }
