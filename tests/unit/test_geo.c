/* Unit tests for shared/measure/geo.c: known city distances, the same point, the
 * antipodes, the poles, paths across the date line, symmetry, bad input.
 * Reference values from an independent haversine (R = 6371.0088 km).
 * SPDX-License-Identifier: BSD-3-Clause */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "shared/measure/geo.h"

#define R 6371.0088
#define PI 3.14159265358979323846

#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), #a, __LINE__)

static void assert_near_at(double a, double b, double eps, const char *what, int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("line %d: %s = %.12g, want %.12g +- %g", line, what, a, b, eps);
}

static void test_cities(void **state)
{
    (void)state;
    /* Paris - Tokyo: about 9712 km. */
    assert_near(glb_geo_distance_km(48.8566, 2.3522, 35.6762, 139.6503), 9712, 10);
    assert_near(glb_geo_distance_km(48.8566, 2.3522, 35.6762, 139.6503), 9711.738, 0.01);
    /* London - New York: about 5570 km. */
    assert_near(glb_geo_distance_km(51.5074, -0.1278, 40.7128, -74.0060), 5570.23, 0.01);
}

static void test_same_point(void **state)
{
    (void)state;
    assert_near(glb_geo_distance_km(48.8566, 2.3522, 48.8566, 2.3522), 0, 1e-9);
    assert_near(glb_geo_distance_km(0, 0, 0, 0), 0, 1e-12);
    /* At a pole the longitude does not matter. */
    assert_near(glb_geo_distance_km(90, 0, 90, 123), 0, 1e-6);
    assert_near(glb_geo_distance_km(-90, -45, -90, 170), 0, 1e-6);
    /* -180 and 180 are the same meridian. */
    assert_near(glb_geo_distance_km(10, 180, 10, -180), 0, 1e-6);
}

static void test_antipodes(void **state)
{
    (void)state;
    double half = PI * R; /* 20015.114 km */
    assert_near(half, 20015.11, 0.01);
    assert_near(glb_geo_distance_km(0, 0, 0, 180), half, 1e-6);
    assert_near(glb_geo_distance_km(90, 0, -90, 0), half, 1e-6);
    assert_near(glb_geo_distance_km(45, 10, -45, -170), half, 1e-6);
    assert_near(glb_geo_distance_km(-33.8688, 151.2093, 33.8688, -28.7907), half, 1e-6);
    /* A pair where the haversine term rounds to just above 1. */
    assert_near(glb_geo_distance_km(44.605673344156571, 46.407575284320643, -44.605673344156571,
                                    46.407575284320643 + 180),
                half, 1e-6);
    /* Nothing is farther than the antipode, and rounding never yields NaN. */
    for (double lat = -90; lat <= 90; lat += 7.5)
        for (double lon = -180; lon <= 180; lon += 15) {
            double d = glb_geo_distance_km(lat, lon, -lat, lon + 180);
            assert_false(isnan(d));
            assert_near(d, half, 1e-6);
        }
}

static void test_date_line(void **state)
{
    (void)state;
    double one_deg = 2 * PI * R / 360; /* 111.195 km on the equator */
    /* 179.5 E to 179.5 W is one degree, not 359. */
    assert_near(glb_geo_distance_km(0, 179.5, 0, -179.5), one_deg, 1e-6);
    assert_near(glb_geo_distance_km(0, -179.5, 0, 179.5), one_deg, 1e-6);
    /* Suva (Fiji) - Apia (Samoa): about 1151 km across the line. */
    assert_near(glb_geo_distance_km(-18.1416, 178.4419, -13.8333, -171.7667), 1150.70, 0.01);
    /* Fairbanks - Chukotka. */
    assert_near(glb_geo_distance_km(64.8378, -147.7164, 65.0, 170.0), 1955.89, 0.01);
    /* Longitudes outside [-180, 180] wrap. */
    assert_near(glb_geo_distance_km(0, 190, 0, -170), 0, 1e-6);
    assert_near(glb_geo_distance_km(0, 540, 0, 0), PI * R, 1e-6);
}

static void test_properties(void **state)
{
    (void)state;
    /* Symmetric, non-negative, and one degree of latitude anywhere is the
     * same arc. */
    static const double pts[][2] = {{48.8566, 2.3522}, {35.6762, 139.6503}, {-33.87, 151.21},
                                    {64.84, -147.72}, {0, 0}, {-90, 0}, {12.5, -179.9}};
    size_t n = sizeof(pts) / sizeof(pts[0]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double a = glb_geo_distance_km(pts[i][0], pts[i][1], pts[j][0], pts[j][1]);
            double b = glb_geo_distance_km(pts[j][0], pts[j][1], pts[i][0], pts[i][1]);
            assert_near(a, b, 1e-9);
            assert_true(a >= 0 && a <= PI * R + 1e-6);
        }
    double one_deg = 2 * PI * R / 360;
    assert_near(glb_geo_distance_km(10, 33, 11, 33), one_deg, 1e-6);
    assert_near(glb_geo_distance_km(-60, -100, -61, -100), one_deg, 1e-6);
    /* Along a parallel the arc shrinks with the cosine of the latitude
     * (nearly: the great circle is a little shorter than the parallel). */
    double d60 = glb_geo_distance_km(60, 0, 60, 1);
    assert_near(d60, one_deg * 0.5, 0.01);
}

static void test_nan(void **state)
{
    (void)state;
    assert_true(isnan(glb_geo_distance_km(NAN, 0, 0, 0)));
    assert_true(isnan(glb_geo_distance_km(0, NAN, 0, 0)));
    assert_true(isnan(glb_geo_distance_km(0, 0, NAN, 0)));
    assert_true(isnan(glb_geo_distance_km(0, 0, 0, NAN)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cities),     cmocka_unit_test(test_same_point),
        cmocka_unit_test(test_antipodes),  cmocka_unit_test(test_date_line),
        cmocka_unit_test(test_properties), cmocka_unit_test(test_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
