# The dynamic loader sees the vDSO: ldd lists linux-vdso.so.1 (its address differs between runs,
# so only its presence is printed).
set -eu
echo "ldd /bin/true lists linux-vdso.so.1: $(ldd /bin/true | grep -c '^[[:space:]]*linux-vdso\.so\.1 ')"
