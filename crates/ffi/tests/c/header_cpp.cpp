// The header compiles as C++ (the harness builds this with g++ -Wall -Werror -pedantic).
#include "tlswire.h"

int main() {
    tlswire_conn *conn = nullptr;
    return tlswire_isopen(conn) + static_cast<int>(tlswire_abi_version() != TLSWIRE_ABI_VERSION);
}
