package app

import (
	"errors"
	"fmt"
	"io/fs"
)

// Errors of the console's actions (the console answers 409, 404 and 403
// for them, internal/console/API.md), and of a client's run. They are
// wrapped with context; test with errors.Is.
var (
	// ErrNotNow: the action does not fit the current phase (no
	// consultation running, one running already, ended already).
	ErrNotNow = errors.New("not possible right now")
	// ErrNotFound: no such file, record, consent request or known peer. It
	// wraps fs.ErrNotExist so that the console answers 404.
	ErrNotFound = fmt.Errorf("not found: %w", fs.ErrNotExist)
	// ErrRole: the action belongs to the other role. It wraps
	// fs.ErrPermission so that the console answers 403.
	ErrRole = fmt.Errorf("not for this role: %w", fs.ErrPermission)
	// ErrLost: the client's consultation ended because the connection or
	// the protocol failed, not because someone ended it.
	ErrLost = errors.New("the consultation broke off")
)
