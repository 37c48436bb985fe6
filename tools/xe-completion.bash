# bash completion for xe (install as /etc/bash_completion.d/xe). Like xapi's script it has no
# protocol of its own: it asks the server through xe itself (help --minimal --all, help <cmd>,
# <class>-list params=... --minimal) and parses the normal output.

# Splits a --minimal line on unescaped commas and unescapes \, and \\.
_xe_split_minimal() {
  local line=$1 item='' i c
  for ((i = 0; i < ${#line}; i++)); do
    c=${line:i:1}
    if [[ $c == '\' ]]; then
      ((i++))
      item+=${line:i:1}
    elif [[ $c == ',' ]]; then
      printf '%s\n' "$item"
      item=''
    else
      item+=$c
    fi
  done
  [[ -n $item ]] && printf '%s\n' "$item"
}

# Parameter names of a command from `xe help <cmd>` (reqd and optional params lines).
_xe_params() {
  local cmd=$1 line names p
  while IFS= read -r line; do
    case $line in
    *'reqd params'* | *'optional params'*)
      names=${line#*: }
      for p in ${names//,/ }; do
        case $p in
        '<vm-selectors>') echo 'vm=' ;;
        '<host-selectors>') echo 'host=' ;;
        '<sr-selectors>') echo 'sr=' ;;
        *: | *-) echo "$p" ;;
        *) echo "$p=" ;;
        esac
      done
      ;;
    esac
  done < <(xe help "$cmd" 2>/dev/null)
}

_xe() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}
  COMPREPLY=()
  if ((COMP_CWORD == 1)); then
    mapfile -t COMPREPLY < <(compgen -W "$(_xe_split_minimal "$(xe help --minimal --all 2>/dev/null)")" -- "$cur")
    return
  fi
  if [[ $cur == *=* ]]; then
    local param=${cur%%=*} value=${cur#*=} class=${cmd%%-*} values=''
    case $param in
    uuid | *-uuid)
      [[ $param == *-uuid ]] && class=${param%-uuid}
      values=$(_xe_split_minimal "$(xe "$class-list" params=uuid --minimal 2>/dev/null)")
      ;;
    vm | host | sr)
      values=$(_xe_split_minimal "$(xe "$param-list" params=name-label --minimal 2>/dev/null)")
      ;;
    template)
      values=$(_xe_split_minimal "$(xe template-list params=name-label --minimal 2>/dev/null)")
      ;;
    filename | file-name | license-file)
      mapfile -t COMPREPLY < <(compgen -f -- "$value" | sed "s|^|$param=|")
      return
      ;;
    mode)
      values=$'dhcp\nstatic\nnone\nbalance-slb\nactive-backup\nlacp'
      ;;
    esac
    local IFS=$'\n'
    mapfile -t COMPREPLY < <(compgen -W "$values" -- "$value" | sed "s|^|$param=|")
    return
  fi
  local typed=" ${COMP_WORDS[*]} " p out=()
  while IFS= read -r p; do
    [[ $typed == *" ${p}"* ]] || out+=("$p")
  done < <(_xe_params "$cmd")
  mapfile -t COMPREPLY < <(compgen -W "${out[*]}" -- "$cur")
}

complete -F _xe -o nospace xe
