# The floor of the decision benchmarks: the cheapest query the same OPA can
# answer, served from its own bundle (root "bench") beside regate's.
package bench

noop := true
