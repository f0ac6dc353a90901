// Package faults drives the real knooppunt binary through faults: kill -9 at random moments,
// a full disk, damaged files. The full kill run is scripts/killtest.sh; CI runs reduced forms.
//
// Where each fault lives (test files only):
//
//	fault                                    file
//	kill -9 during uploads and processing    kill_test.go
//	kill -9 during Digikoppeling sending     ebms_kill_test.go
//	a full disk                              fulldisk_test.go
//	damaged files in the file store          damaged_test.go
//	a backup during uploads, restored        backup_test.go
//	SIGTERM during transfers (drain)         shutdown_test.go
//	upgrade and downgrade of the store       upgrade_test.go
//	the binary, its data dir, the clients    helpers_test.go, ops_helpers_test.go
package faults
