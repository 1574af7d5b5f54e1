module github.com/mppd/mppd

go 1.26.8

require (
	github.com/GehirnInc/crypt v0.0.0-20230320061759-8cc1b52080c5
	github.com/coreos/go-systemd/v22 v22.7.0
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/go-crypt/x v0.4.17
	github.com/msteinert/pam/v2 v2.1.0
	github.com/sirupsen/logrus v1.9.3
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)
