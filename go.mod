module github.com/vanixiets/vanixiets

go 1.26.0

tool github.com/magefile/mage

require (
	github.com/magefile/mage v1.15.0
	gotest.tools/v3 v3.5.2
)

require github.com/google/go-cmp v0.7.0 // indirect
