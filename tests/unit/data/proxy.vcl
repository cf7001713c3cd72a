vcl 4.1;
# glb proxy-cache: rendered by dnslb lb42 from its ranking. Do not edit: the next
# change of the ranking replaces it (dnslb.conf(5), section proxy).
import directors;
import std;

backend default none;

# service 0: www.foobar.example.
backend glb_0_tokyo_0 { # site tokyo, answer set
    .host = "192.0.2.20";
    .port = "8000";
    .connect_timeout = 1s;
}
backend glb_0_paris_0 { # site paris, answer set
    .host = "192.0.2.10";
    .port = "8081";
    .connect_timeout = 1s;
}
backend glb_0_paris_1 { # site paris, answer set
    .host = "2001:db8::10";
    .port = "8081";
    .connect_timeout = 1s;
}
backend glb_0_9_lives_0 { # site 9-lives, next in rank
    .host = "192.0.2.40";
    .port = "8000";
    .connect_timeout = 1s;
}

# service 1: we\"ird}.\\x.example. (every site dead: all of them)
backend glb_1_a_0 { # site a, answer set
    .host = "198.51.100.1";
    .port = "8000";
    .connect_timeout = 1s;
}

# service 2: empty.example.
# no origin ranked: requests get 503

sub vcl_init {
    new glb_0_best = directors.random();
    glb_0_best.add_backend(glb_0_tokyo_0, 3);
    glb_0_best.add_backend(glb_0_paris_0, 1);
    glb_0_best.add_backend(glb_0_paris_1, 1);
    new glb_0 = directors.fallback();
    glb_0.add_backend(glb_0_best.backend());
    glb_0.add_backend(glb_0_9_lives_0);
    new glb_1_best = directors.random();
    glb_1_best.add_backend(glb_1_a_0, 1);
    new glb_1 = directors.fallback();
    glb_1.add_backend(glb_1_best.backend());
}

sub vcl_recv {
    if (!(false ||
          req.http.host ~ {"(?i)^([^.:/]+\.)?www\.foobar\.example\.?(:[0-9]+)?$"} ||
          req.http.host ~ {"(?i)^([^.:/]+\.)?we\x22ird\x7d\.\x5cx\.example\.?(:[0-9]+)?$"} ||
          req.http.host ~ {"(?i)^([^.:/]+\.)?empty\.example\.?(:[0-9]+)?$"})) {
        return (synth(404, "Not a service of this proxy"));
    }
}

sub vcl_hash {
    hash_data(req.url);
    hash_data(std.tolower(regsub(req.http.host, {"\.?(:[0-9]+)?$"}, "")));
    return (lookup);
}

# A peer DNS-LB's lookup (X-Glb-Peer-Lookup) gets what this cache holds, or a 404
# with X-Glb-Peer-Miss; it never makes this proxy fetch.
sub vcl_miss {
    if (req.http.X-Glb-Peer-Lookup) {
        return (synth(404, "Not in this cache"));
    }
}

sub vcl_pass {
    if (req.http.X-Glb-Peer-Lookup) {
        return (synth(404, "Not in this cache"));
    }
}

sub vcl_synth {
    if (req.http.X-Glb-Peer-Lookup && resp.status == 404) {
        set resp.http.X-Glb-Peer-Miss = "1";
    }
}

sub vcl_deliver {
    if (req.http.X-Glb-Peer-Lookup) {
        set resp.http.X-Glb-Peer = "lb42";
    }
}

sub glb_origin {
    if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?www\.foobar\.example\.?(:[0-9]+)?$"}) {
        if (bereq.retries == 0) {
            set bereq.backend = glb_0.backend();
        } else if (bereq.retries == 1) {
            set bereq.backend = glb_0_paris_0;
        } else if (bereq.retries == 2) {
            set bereq.backend = glb_0_paris_1;
        } else if (bereq.retries == 3) {
            set bereq.backend = glb_0_9_lives_0;
        }
    } else if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?we\x22ird\x7d\.\x5cx\.example\.?(:[0-9]+)?$"}) {
        if (bereq.retries == 0) {
            set bereq.backend = glb_1.backend();
        }
    } else if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?empty\.example\.?(:[0-9]+)?$"}) {
        set bereq.backend = default;
    }
}

sub glb_retry {
    if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?www\.foobar\.example\.?(:[0-9]+)?$"}) {
        if (bereq.retries < 3) {
            return (retry);
        }
    } else if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?we\x22ird\x7d\.\x5cx\.example\.?(:[0-9]+)?$"}) {
    } else if (bereq.http.host ~ {"(?i)^([^.:/]+\.)?empty\.example\.?(:[0-9]+)?$"}) {
    }
}

sub vcl_backend_fetch {
    call glb_origin;
}

sub vcl_backend_response {
    if (beresp.status >= 500) {
        call glb_retry;
    }
}

sub vcl_backend_error {
    call glb_retry;
}
