{ version = "1"; mode = "ok"; }
