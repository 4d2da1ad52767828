module github.com/direkt/direkt

go 1.26.8
