# Shared by .ci/postgres.sh and .ci/mysql.sh (sourced by them, not run): installing the server's
# Debian package, picking a free local port, and reading a running server's saved state.

# _srv_install LOG ALLOW LABEL PACKAGE: install PACKAGE from Debian's packages, as root or with
# password-less sudo; ALLOW=0 (--no-install) never installs. LOG is the caller's log function.
_srv_install() {
    local log=$1 allow=$2 label=$3 package=$4 sudo=()
    if [[ $(id -u) != 0 ]] && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    fi
    if [[ $allow == 0 || ($(id -u) != 0 && ${#sudo[@]} == 0) ]]; then
        "$log" "$label is not installed (run as root, or: apt-get install -y $package)"
        return 3
    fi
    "$log" "installing $label from the Debian packages"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2
}

_srv_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# _srv_load_state LOG VAR: read the env file of the server whose state folder the variable named
# VAR holds (it defines what the server's script needs: programs, options).
_srv_load_state() {
    local log=$1 var=$2
    local dir=${!var:-}
    if [[ -z $dir || ! -f $dir/env ]]; then
        "$log" "no server: $var is unset or stale"
        return 3
    fi
    # shellcheck disable=SC1091
    source "$dir/env"
}

# _srv_main NAME VAR HELP_LINES SCRIPT ARGS...: the command form of a server script (start, down,
# up, stop, run CMD...), driving its NAME_start / NAME_down / NAME_up / NAME_stop functions and
# printing the BLOCKNAS_TEST_<VAR>_URL / _STATE variables; HELP_LINES of SCRIPT are its usage.
_srv_main() {
    local name=$1 var=$2 help=$3 script=$4
    shift 4
    set -euo pipefail
    local command=${1:-} install=1
    [[ $# -gt 0 ]] && shift
    if [[ ${1:-} == --no-install ]]; then
        install=0
        shift
    fi
    case $command in
        start)
            "${name}_start" "$install"
            local url=BLOCKNAS_TEST_${var}_URL state=BLOCKNAS_TEST_${var}_STATE
            echo "export $url='${!url}'"
            echo "export $state='${!state}'"
            ;;
        down | up | stop) "${name}_$command" ;;
        run)
            if [[ $# -eq 0 ]]; then
                echo "$(basename "$script"): usage: $(basename "$script") run [--no-install] CMD..." >&2
                exit 2
            fi
            "${name}_start" "$install"
            # shellcheck disable=SC2064
            trap "${name}_stop" EXIT
            local status=0
            "$@" || status=$?
            exit "$status"
            ;;
        *)
            sed -n "${help}p" "$script" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}
