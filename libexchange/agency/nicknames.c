/*
 * Nickname table: common UK diminutives and spelling variants mapped to one canonical
 * forename, so that "Bill Smith" and "William Smith" born on the same day share a match
 * key. See docs/normalise.md for how the table was chosen and what it costs.
 *
 * The table is sorted by nickname in strcmp order (the lookup is a binary search, and
 * test_normalise checks the order). A nickname listed more than once is ambiguous; sex
 * picks the row, otherwise the name is left as it is.
 */
#include "exchange/normalise.h"

#include <string.h>

typedef struct nick_row {
    const char *nick;
    const char *canon;
    char sex; /* 'M' or 'F': the sex of the canonical name */
} nick_row;

/* clang-format off */
static const nick_row nicknames[] = {
    {"abbie", "abigail", 'F'},
    {"abby", "abigail", 'F'},
    {"alec", "alexander", 'M'},
    {"alex", "alexander", 'M'},
    {"alex", "alexandra", 'F'},
    {"alf", "alfred", 'M'},
    {"alfie", "alfred", 'M'},
    {"allison", "alison", 'F'},
    {"andy", "andrew", 'M'},
    {"ann", "anne", 'F'},
    {"annie", "anne", 'F'},
    {"ant", "anthony", 'M'},
    {"archie", "archibald", 'M'},
    {"artie", "arthur", 'M'},
    {"babs", "barbara", 'F'},
    {"barb", "barbara", 'F'},
    {"becca", "rebecca", 'F'},
    {"becky", "rebecca", 'F'},
    {"ben", "benjamin", 'M'},
    {"benji", "benjamin", 'M'},
    {"benny", "benjamin", 'M'},
    {"bernie", "bernadette", 'F'},
    {"bernie", "bernard", 'M'},
    {"bess", "elizabeth", 'F'},
    {"bessie", "elizabeth", 'F'},
    {"beth", "elizabeth", 'F'},
    {"betsy", "elizabeth", 'F'},
    {"betty", "elizabeth", 'F'},
    {"bex", "rebecca", 'F'},
    {"bill", "william", 'M'},
    {"billy", "william", 'M'},
    {"bob", "robert", 'M'},
    {"bobby", "robert", 'M'},
    {"brad", "bradley", 'M'},
    {"carrie", "caroline", 'F'},
    {"cassie", "cassandra", 'F'},
    {"cath", "katherine", 'F'},
    {"catharine", "katherine", 'F'},
    {"catherine", "katherine", 'F'},
    {"cathy", "katherine", 'F'},
    {"caz", "caroline", 'F'},
    {"charlie", "charles", 'M'},
    {"charlie", "charlotte", 'F'},
    {"chas", "charles", 'M'},
    {"chaz", "charles", 'M'},
    {"chris", "christine", 'F'},
    {"chris", "christopher", 'M'},
    {"chrissie", "christine", 'F'},
    {"chuck", "charles", 'M'},
    {"cindy", "cynthia", 'F'},
    {"clare", "claire", 'F'},
    {"cliff", "clifford", 'M'},
    {"dan", "daniel", 'M'},
    {"dani", "danielle", 'F'},
    {"danny", "daniel", 'M'},
    {"dave", "david", 'M'},
    {"davey", "david", 'M'},
    {"davy", "david", 'M'},
    {"deb", "deborah", 'F'},
    {"debbie", "deborah", 'F'},
    {"debra", "deborah", 'F'},
    {"den", "dennis", 'M'},
    {"des", "desmond", 'M'},
    {"di", "diana", 'F'},
    {"dick", "richard", 'M'},
    {"dicky", "richard", 'M'},
    {"dolly", "dorothy", 'F'},
    {"dom", "dominic", 'M'},
    {"don", "donald", 'M'},
    {"donny", "donald", 'M'},
    {"dot", "dorothy", 'F'},
    {"dottie", "dorothy", 'F'},
    {"doug", "douglas", 'M'},
    {"dougie", "douglas", 'M'},
    {"drew", "andrew", 'M'},
    {"ed", "edward", 'M'},
    {"eddie", "edward", 'M'},
    {"eddy", "edward", 'M'},
    {"eliza", "elizabeth", 'F'},
    {"ernie", "ernest", 'M'},
    {"fran", "frances", 'F'},
    {"fran", "francis", 'M'},
    {"frank", "francis", 'M'},
    {"frankie", "frances", 'F'},
    {"frankie", "francis", 'M'},
    {"fred", "frederick", 'M'},
    {"freddie", "frederick", 'M'},
    {"freddy", "frederick", 'M'},
    {"gabby", "gabrielle", 'F'},
    {"gene", "eugene", 'M'},
    {"geoff", "geoffrey", 'M'},
    {"georgie", "george", 'M'},
    {"georgie", "georgina", 'F'},
    {"gerry", "gerald", 'M'},
    {"gill", "gillian", 'F'},
    {"gilly", "gillian", 'F'},
    {"greg", "gregory", 'M'},
    {"gus", "augustus", 'M'},
    {"gwen", "gwendolyn", 'F'},
    {"hal", "henry", 'M'},
    {"hank", "henry", 'M'},
    {"harry", "henry", 'M'},
    {"hattie", "harriet", 'F'},
    {"herb", "herbert", 'M'},
    {"hetty", "henrietta", 'F'},
    {"immy", "imogen", 'F'},
    {"isabelle", "isabel", 'F'},
    {"isobel", "isabel", 'F'},
    {"izzy", "isabel", 'F'},
    {"jack", "john", 'M'},
    {"jackie", "jacqueline", 'F'},
    {"jacky", "jacqueline", 'F'},
    {"jacqui", "jacqueline", 'F'},
    {"jake", "jacob", 'M'},
    {"jamie", "james", 'M'},
    {"jeff", "jeffrey", 'M'},
    {"jen", "jennifer", 'F'},
    {"jenny", "jennifer", 'F'},
    {"jerry", "gerald", 'M'},
    {"jess", "jessica", 'F'},
    {"jessie", "jessica", 'F'},
    {"jez", "jeremy", 'M'},
    {"jim", "james", 'M'},
    {"jimmie", "james", 'M'},
    {"jimmy", "james", 'M'},
    {"jo", "joanne", 'F'},
    {"jo", "joseph", 'M'},
    {"jo", "josephine", 'F'},
    {"joe", "joseph", 'M'},
    {"joey", "joseph", 'M'},
    {"johnny", "john", 'M'},
    {"jon", "jonathan", 'M'},
    {"josh", "joshua", 'M'},
    {"josie", "josephine", 'F'},
    {"judy", "judith", 'F'},
    {"kat", "katherine", 'F'},
    {"kate", "katherine", 'F'},
    {"kath", "katherine", 'F'},
    {"katharine", "katherine", 'F'},
    {"kathryn", "katherine", 'F'},
    {"kathy", "katherine", 'F'},
    {"katie", "katherine", 'F'},
    {"katy", "katherine", 'F'},
    {"ken", "kenneth", 'M'},
    {"kenny", "kenneth", 'M'},
    {"kev", "kevin", 'M'},
    {"kit", "christopher", 'M'},
    {"kitty", "katherine", 'F'},
    {"larry", "lawrence", 'M'},
    {"laurence", "lawrence", 'M'},
    {"len", "leonard", 'M'},
    {"lenny", "leonard", 'M'},
    {"lexi", "alexandra", 'F'},
    {"lexie", "alexandra", 'F'},
    {"liam", "william", 'M'},
    {"libby", "elizabeth", 'F'},
    {"liv", "olivia", 'F'},
    {"livvy", "olivia", 'F'},
    {"liz", "elizabeth", 'F'},
    {"liza", "elizabeth", 'F'},
    {"lizzie", "elizabeth", 'F'},
    {"lizzy", "elizabeth", 'F'},
    {"lottie", "charlotte", 'F'},
    {"lou", "louise", 'F'},
    {"maddie", "madeleine", 'F'},
    {"maddy", "madeleine", 'F'},
    {"madeline", "madeleine", 'F'},
    {"madge", "margaret", 'F'},
    {"maggie", "margaret", 'F'},
    {"mags", "margaret", 'F'},
    {"mal", "malcolm", 'M'},
    {"mandy", "amanda", 'F'},
    {"marge", "marjorie", 'F'},
    {"margery", "marjorie", 'F'},
    {"mathew", "matthew", 'M'},
    {"matt", "matthew", 'M'},
    {"matty", "matthew", 'M'},
    {"max", "maximilian", 'M'},
    {"meg", "margaret", 'F'},
    {"mel", "melanie", 'F'},
    {"mel", "melissa", 'F'},
    {"mick", "michael", 'M'},
    {"mickey", "michael", 'M'},
    {"micky", "michael", 'M'},
    {"mike", "michael", 'M'},
    {"mikey", "michael", 'M'},
    {"mohamad", "muhammad", 'M'},
    {"mohamed", "muhammad", 'M'},
    {"mohammad", "muhammad", 'M'},
    {"mohammed", "muhammad", 'M'},
    {"molly", "mary", 'F'},
    {"muhammed", "muhammad", 'M'},
    {"nat", "natalie", 'F'},
    {"nat", "natasha", 'F'},
    {"ned", "edward", 'M'},
    {"nick", "nicholas", 'M'},
    {"nicki", "nicola", 'F'},
    {"nicky", "nicholas", 'M'},
    {"nicky", "nicola", 'F'},
    {"nico", "nicholas", 'M'},
    {"nikki", "nicola", 'F'},
    {"ollie", "oliver", 'M'},
    {"ollie", "olivia", 'F'},
    {"olly", "oliver", 'M'},
    {"paddy", "patrick", 'M'},
    {"pam", "pamela", 'F'},
    {"pat", "patricia", 'F'},
    {"pat", "patrick", 'M'},
    {"patsy", "patricia", 'F'},
    {"patty", "patricia", 'F'},
    {"peg", "margaret", 'F'},
    {"peggy", "margaret", 'F'},
    {"penny", "penelope", 'F'},
    {"pete", "peter", 'M'},
    {"phil", "philip", 'M'},
    {"phillip", "philip", 'M'},
    {"pip", "philippa", 'F'},
    {"pippa", "philippa", 'F'},
    {"polly", "mary", 'F'},
    {"prue", "prudence", 'F'},
    {"rach", "rachel", 'F'},
    {"ray", "raymond", 'M'},
    {"reg", "reginald", 'M'},
    {"reggie", "reginald", 'M'},
    {"rich", "richard", 'M'},
    {"richie", "richard", 'M'},
    {"rick", "richard", 'M'},
    {"ricky", "richard", 'M'},
    {"rob", "robert", 'M'},
    {"robbie", "robert", 'M'},
    {"robby", "robert", 'M'},
    {"rod", "rodney", 'M'},
    {"rog", "roger", 'M'},
    {"ron", "ronald", 'M'},
    {"ronnie", "ronald", 'M'},
    {"russ", "russell", 'M'},
    {"sadie", "sarah", 'F'},
    {"sam", "samantha", 'F'},
    {"sam", "samuel", 'M'},
    {"sammy", "samantha", 'F'},
    {"sammy", "samuel", 'M'},
    {"sandy", "alexander", 'M'},
    {"sandy", "sandra", 'F'},
    {"sara", "sarah", 'F'},
    {"seb", "sebastian", 'M'},
    {"shaun", "sean", 'M'},
    {"shawn", "sean", 'M'},
    {"steph", "stephanie", 'F'},
    {"steve", "stephen", 'M'},
    {"steven", "stephen", 'M'},
    {"stevie", "stephanie", 'F'},
    {"stevie", "stephen", 'M'},
    {"stewart", "stuart", 'M'},
    {"stu", "stuart", 'M'},
    {"sue", "susan", 'F'},
    {"susie", "susan", 'F'},
    {"suzy", "susan", 'F'},
    {"tabby", "tabitha", 'F'},
    {"tash", "natasha", 'F'},
    {"tasha", "natasha", 'F'},
    {"ted", "edward", 'M'},
    {"teddy", "edward", 'M'},
    {"teresa", "theresa", 'F'},
    {"terri", "theresa", 'F'},
    {"terry", "terence", 'M'},
    {"tess", "theresa", 'F'},
    {"theo", "theodore", 'M'},
    {"thom", "thomas", 'M'},
    {"tilda", "matilda", 'F'},
    {"tilly", "matilda", 'F'},
    {"tim", "timothy", 'M'},
    {"timmy", "timothy", 'M'},
    {"toby", "tobias", 'M'},
    {"tom", "thomas", 'M'},
    {"tommy", "thomas", 'M'},
    {"toni", "antonia", 'F'},
    {"tony", "anthony", 'M'},
    {"tori", "victoria", 'F'},
    {"tricia", "patricia", 'F'},
    {"trish", "patricia", 'F'},
    {"vicki", "victoria", 'F'},
    {"vicky", "victoria", 'F'},
    {"vikki", "victoria", 'F'},
    {"vince", "vincent", 'M'},
    {"vinny", "vincent", 'M'},
    {"wally", "walter", 'M'},
    {"walt", "walter", 'M'},
    {"wilf", "wilfred", 'M'},
    {"will", "william", 'M'},
    {"willie", "william", 'M'},
    {"wills", "william", 'M'},
    {"willy", "william", 'M'},
    {"winnie", "winifred", 'F'},
    {"zach", "zachary", 'M'},
    {"zack", "zachary", 'M'},
};
/* clang-format on */

#define NICK_ROWS (sizeof nicknames / sizeof nicknames[0])

size_t xchg_norm_nickname_count(void)
{
    return NICK_ROWS;
}

xchg_err xchg_norm_nickname_row(size_t i, const char **nick, const char **canonical, char *sex)
{
    if (i >= NICK_ROWS)
        return XCHG_ERR_NOT_FOUND;
    if (nick)
        *nick = nicknames[i].nick;
    if (canonical)
        *canonical = nicknames[i].canon;
    if (sex)
        *sex = nicknames[i].sex;
    return XCHG_OK;
}

xchg_err xchg_norm_nickname(const char *name, char sex, char *out, size_t cap)
{
    if (!name || !out || cap == 0)
        return XCHG_ERR_ARG;
    /* out may be name itself, so it is written only at the end. */
    if (sex == 'm')
        sex = 'M';
    if (sex == 'f')
        sex = 'F';
    /* lower bound */
    size_t lo = 0, hi = NICK_ROWS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(nicknames[mid].nick, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t first = lo, end = lo;
    while (end < NICK_ROWS && strcmp(nicknames[end].nick, name) == 0)
        end++;
    const char *result = name;
    if (end - first == 1) {
        /* Unambiguous: map even when the recorded sex disagrees, since recorded sex is
         * itself sometimes wrong and the diminutive has only one reading. */
        result = nicknames[first].canon;
    } else if (end - first > 1 && (sex == 'M' || sex == 'F')) {
        size_t hits = 0, at = 0;
        for (size_t i = first; i < end; i++)
            if (nicknames[i].sex == sex) {
                hits++;
                at = i;
            }
        if (hits == 1)
            result = nicknames[at].canon;
    }
    size_t n = strlen(result);
    if (n + 1 > cap) {
        out[0] = '\0';
        return XCHG_ERR_ARG;
    }
    memmove(out, result, n + 1);
    return XCHG_OK;
}
