// Medians and their confidence intervals, for benchmarks that report the
// medians of interleaved rounds (switch_bench.cpp, vxvde_bench.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace netcpu::bench {

// The 95% confidence interval of the median of `v`, from its order
// statistics: [v(k), v(n+1-k)] for the largest k with
// P(Binomial(n, 1/2) < k) <= 2.5%. Needs no assumption about the
// distribution, so a few wild rounds do not widen it as they would a
// mean's. NaN when there are too few values for 95%.
inline std::pair<double, double> median_interval(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  double below = 0, term = std::pow(0.5, static_cast<double>(n));  // P(B = 0)
  size_t k = 0;
  while (k < n / 2 && below + term <= 0.025) {
    below += term;
    term *= static_cast<double>(n - k) / static_cast<double>(k + 1);
    ++k;
  }
  if (k == 0) return {NAN, NAN};
  return {v[k - 1], v[n - k]};
}

// The median of the values that are not NaN; NaN if there are none.
inline double median(std::vector<double> v) {
  std::erase_if(v, [](double x) { return std::isnan(x); });
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace netcpu::bench
