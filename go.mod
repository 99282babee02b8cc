module github.com/pushbeat/pushbeat

go 1.25

require (
	github.com/benbjohnson/clock v1.3.5
	github.com/emersion/go-imap/v2 v2.0.0-beta.8
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	pgregory.net/rapid v1.3.0
)

require (
	github.com/emersion/go-message v0.18.2 // indirect
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
